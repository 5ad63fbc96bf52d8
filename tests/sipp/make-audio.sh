#!/usr/bin/env bash
# Regenerates tests/sipp/audio/: the caller's spoken message (message.wav, 8 kHz
# mono G.711 mu-law, made by espeak-ng and sox) and the RTP captures the SIPp
# scenarios replay (*.pcap: the message, and the keys as RFC 4733 telephone-events).
# Needs espeak-ng, sox and python3. Commit the folder after running it; if the
# message's length changes, change w_speak in the report scenarios too
# (tests/test_sipp_scenarios.py checks both, and that the captures are current).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/audio"
python="$here/../../.venv/bin/python"
[ -x "$python" ] || python=python3
for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "make-audio: $tool is missing" >&2; exit 1; }
done

# What a citizen says after the beep (Spanish, Latin America; about 4 seconds).
text="Quiero reportar un robo. Me quitaron el celular en la avenida Larco."

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
espeak-ng -v es-419 -s 160 -w "$tmp/speech.wav" "$text"
# Trim espeak's silence, leave a natural 0.2 s either side, peak at -3 dBFS,
# telephone band, then G.711 mu-law at 8 kHz: what the phone would send.
sox -R "$tmp/speech.wav" "$tmp/shaped.wav" \
  silence 1 0.02 0.1% reverse silence 1 0.02 0.1% reverse \
  pad 0.2 0.2 sinc 300-3400 norm -3 rate 8000 channels 1
sox -R "$tmp/shaped.wav" -e u-law -b 8 "$out/message.wav"
sox -R "$out/message.wav" -t raw -e u-law -b 8 -r 8000 -c 1 "$tmp/message.ulaw"
"$python" "$here/make_pcaps.py" --message "$tmp/message.ulaw" --out "$out"
printf 'make-audio: message.wav %s s; %s captures in %s\n' \
  "$(soxi -D "$out/message.wav")" "$(find "$out" -name '*.pcap' | wc -l)" "$out"
