package server

import "tzportal/portal/locale"

// ActionLabel is actionLabel for the tests of package server_test.
func ActionLabel(s *Server, l *locale.L, action string) string { return s.actionLabel(l, action) }
