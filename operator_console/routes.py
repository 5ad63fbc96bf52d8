"""Every route of the console and who may use it (see each handler's decorator)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from operator_console.views import (
    account,
    admin,
    alarm_admin,
    alarms,
    alert_admin,
    analytics,
    auth,
    callbacks,
    case_admin,
    case_forms,
    case_report,
    cases,
    clip_admin,
    clips,
    health,
    line_audio,
    lines,
    messaging,
    metro,
    open311,
    public,
    queue,
    reports,
    stream,
    tax,
)


def setup_routes(app: web.Application, static: Path) -> None:
    r = app.router
    r.add_get("/healthz", health.health)
    r.add_get("/login", auth.login_form)
    r.add_post("/login", auth.login)
    r.add_post("/logout", auth.logout)
    r.add_post("/language", auth.set_language)
    r.add_get("/account", account.account_page)
    r.add_post("/account/password", account.change_password)
    r.add_post("/municipality", account.switch_municipality)
    r.add_get("/", queue.index)
    r.add_get("/queue/rows", queue.rows_fragment)
    r.add_get("/api/queue", queue.queue_api)
    r.add_get("/events", stream.events)
    r.add_get("/api/ami", callbacks.ami_status)
    r.add_get("/reports", reports.search_page)
    r.add_get("/reports/new", reports.new_form)
    r.add_post("/reports", reports.create)
    r.add_get("/reports/{report}", reports.report_page)
    r.add_get("/reports/{report}/live", reports.history_fragment)
    r.add_post("/reports/{report}/state", reports.change_state)
    r.add_post("/reports/{report}/notes", reports.add_note)
    r.add_post("/reports/{report}/reserve", reports.reserve)
    r.add_post("/reports/{report}/handover", reports.hand_over)
    r.add_post("/reports/{report}/callback", callbacks.call_back)
    r.add_get("/reports/{report}/clip", clips.clip)
    r.add_get("/reports/{report}/clips/{clip}", clips.clip)
    r.add_get("/reports/{report}/clips/{clip}/playback", clip_admin.playback)
    r.add_post("/reports/{report}/clips/{clip}/retranscribe", clip_admin.retranscribe)
    r.add_post("/reports/{report}/hold", clip_admin.legal_hold)
    r.add_post("/reports/{report}/release-clips", clip_admin.release_clips)
    r.add_get("/admin/users", admin.users_page)
    r.add_post("/admin/users", admin.add_user)
    r.add_post("/admin/users/{user}", admin.update_user)
    r.add_get("/supervision", admin.supervision)
    # Text messages and e-mail: supervision (supervisors), alerts and texting (admins).
    r.add_get("/messages", messaging.messages_page)
    r.add_post("/messages/{message}/again", messaging.send_again)
    r.add_get("/admin/alerts", alert_admin.alerts_page)
    r.add_post("/admin/alerts/rules", alert_admin.add_rule)
    r.add_post("/admin/alerts/rules/{rule}/remove", alert_admin.remove_rule)
    r.add_post("/admin/alerts/shifts", alert_admin.add_shift)
    r.add_post("/admin/alerts/shifts/{shift}/remove", alert_admin.remove_shift)
    r.add_post("/admin/alerts/contacts/{user}", alert_admin.save_contact)
    r.add_post("/admin/alerts/texts", alert_admin.save_texts)
    # Silent alarms: the board (operators), its report (supervisors), devices (admins).
    r.add_get("/alarms", alarms.board_page)
    r.add_get("/alarms/rows", alarms.board_rows)
    r.add_get("/alarms/report", alarms.responsible_page)
    r.add_post("/alarms/{report}/take", alarms.take)
    r.add_get("/api/alarms", alarms.pending_api)
    r.add_get("/admin/alarms", alarm_admin.devices_page)
    r.add_post("/admin/alarms/sites", alarm_admin.add_site)
    r.add_post("/admin/alarms/devices", alarm_admin.add_device)
    r.add_post("/admin/alarms/devices/{device}/deactivate", alarm_admin.deactivate)
    r.add_post("/admin/alarms/import", alarm_admin.import_csv)
    # Lines, menus and prompts (admins): drafts, audio, publish, history.
    r.add_get("/admin/lines", lines.lines_page)
    r.add_post("/admin/lines", lines.create_line)
    r.add_post("/admin/lines/import", line_audio.import_line)
    r.add_get("/admin/lines/audio/{sha}", line_audio.audio)
    r.add_get("/admin/lines/recordings/{token}", line_audio.recording_status)
    r.add_get("/admin/lines/{line}", lines.line_page)
    r.add_post("/admin/lines/{line}/settings", lines.save_settings)
    r.add_post("/admin/lines/{line}/menus", lines.save_menu)
    r.add_post("/admin/lines/{line}/types", lines.save_type)
    r.add_post("/admin/lines/{line}/prompts", lines.save_prompt_text)
    r.add_post("/admin/lines/{line}/prompts/{prompt}/{lang}/upload", line_audio.upload)
    r.add_post("/admin/lines/{line}/prompts/{prompt}/{lang}/speak", line_audio.spoken)
    r.add_post("/admin/lines/{line}/prompts/{prompt}/{lang}/phone", line_audio.by_phone)
    r.add_post("/admin/lines/{line}/speak-missing", line_audio.speak_missing)
    r.add_post("/admin/lines/{line}/publish", lines.publish)
    r.add_post("/admin/lines/{line}/restore", lines.restore)
    r.add_post("/admin/lines/{line}/discard", lines.discard)
    r.add_get("/admin/lines/{line}/export", line_audio.export)
    # Citizen services: admins' calendar and Open311 keys; the monthly report of cases
    # (before any /cases/{...} route, which would take "report" for an id).
    r.add_get("/admin/calendar", case_admin.calendar_page)
    r.add_post("/admin/calendar", case_admin.calendar_change)
    r.add_get("/admin/open311", case_admin.keys_page)
    r.add_post("/admin/open311", case_admin.keys_change)
    r.add_get("/cases/report", case_report.report_page)
    r.add_get("/cases/report.csv", case_report.report_csv)
    # Officers' cases (supervisors and admins too): the queue, a counter or e-mail case,
    # the supervision of deadlines (supervisors), then one case (its id last: /cases/new
    # is not a case).
    r.add_get("/cases", cases.queue_page)
    r.add_get("/cases/new", case_forms.new_form)
    r.add_post("/cases/new", case_forms.create)
    r.add_get("/cases/supervision", cases.supervision_page)
    r.add_get("/cases/{case}", cases.case_page)
    r.add_get("/cases/{case}/clips/{clip}", cases.case_clip)
    r.add_post("/cases/{case}/callback", cases.call_back)
    r.add_post("/cases/{case}/answer", cases.answer)
    r.add_post("/cases/{case}/close", cases.close)
    r.add_post("/cases/{case}/reopen", cases.reopen)
    # The tax line's audit and blocks (supervisors).
    r.add_get("/tax/lookups", tax.lookups_page)
    r.add_post("/tax/blocks/lift", tax.lift_block)
    # Command-center analytics (supervisors) and the public transparency page and API.
    r.add_get("/dashboard", analytics.dashboard_page)
    r.add_get("/dashboard/hotspots", analytics.hotspots_page)
    r.add_get("/dashboard/export.csv", analytics.export_csv)
    r.add_get("/dashboard/export.xlsx", analytics.export_xlsx)
    r.add_get("/dashboard/export.geojson", analytics.export_geojson)
    r.add_get("/committee", analytics.committee_page)
    r.add_get("/committee.pdf", analytics.committee_pdf)
    r.add_get("/metro", metro.metro_page)
    r.add_get("/public", public.index_html)
    r.add_get("/public/{code}", public.page_html)
    r.add_get("/public/api/summary.json", public.summary_json)
    # Open311 GeoReport v2: the public read API, and cases filed and followed with a key.
    r.add_get("/open311/v2/services.json", open311.services_json)
    r.add_get("/open311/v2/services/{code}.json", open311.service_json)
    r.add_get("/open311/v2/requests.json", open311.requests_json)
    r.add_post("/open311/v2/requests.json", open311.post_request)
    r.add_get("/open311/v2/requests/{report}.json", open311.request_json)
    # Static files are public (the auth middleware recognises the resource); aiohttp
    # resolves each path and refuses any that leaves the folder.
    r.add_static("/static/", static, follow_symlinks=False, append_version=True)
