"""Pure rules: functions of their arguments alone, no database, no app, no request."""
