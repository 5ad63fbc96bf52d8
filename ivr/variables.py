"""Dialplan variable names shared by the flows, the AGI channel, the dialplan and the fakes.

Kept here so a name is spelled once; ``dialplans/`` uses the same names.
"""

STEP = "ALERTA_STEP"  # where the flow is: language, menu, callback, zone, record, review, readback
REPORT = "ALERTA_REPORT"  # the report number once created (the queue and CDRs can show it)
OUTCOME = "ALERTA_OUTCOME"  # how a flow ended, for CDRs and tests (the dialplan needs none)
LANGUAGE = "CHANNEL(language)"  # the caller's chosen language
QUEUE_STATUS = "QUEUESTATUS"  # set by Queue() when it returns without an answer

# Values of QUEUESTATUS that mean no operator took the call.
QUEUE_NOT_ANSWERED = frozenset(
    {"TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL"}
)
# Operator callbacks (AMI Originate into context alerta-callback): the number arrives as
# the extension; these ride along as channel variables.
CALLBACK_RING_S = "ALERTA_RING_S"  # how long the citizen's phone rings
