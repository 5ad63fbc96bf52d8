"""Silent alarms: the intakes that hear shops' terminals and alarm panels."""
