"""Authentication, sessions, CSRF, headers, rate limits and secrets."""
