"""A clip's life: recorded into a tmp folder, validated, moved into voiceclips/."""
