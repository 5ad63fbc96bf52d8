"""Prompt audio: the content-addressed library, conversion of uploads, speech from text."""
