package payments

// HoldGroups makes the callbacks' group commits wait until release is called, so a test can queue a group of its
// choosing (Waiting says how many are queued).
func (s *Service) HoldGroups() (release func()) {
	h := make(chan struct{})
	s.groups.mu.Lock()
	s.groups.hold = h
	s.groups.mu.Unlock()
	return func() {
		s.groups.mu.Lock()
		s.groups.hold = nil
		s.groups.mu.Unlock()
		close(h)
	}
}

// Waiting counts the callbacks queued for their gateways' next groups.
func (s *Service) Waiting() int {
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	n := 0
	for _, list := range s.groups.waiting {
		n += len(list)
	}
	return n
}

// InGroupTx makes f run inside each group's transaction once its deposits are completed, before the commit.
func (s *Service) InGroupTx(f func(size int)) {
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	s.groups.midTx = f
}
