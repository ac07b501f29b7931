package simulator

import "sync"

// Faults makes the simulator misbehave the way real platforms do, so the contract suite (tradingtest) can check
// that callers survive it. Nothing in production calls these.
type Faults struct {
	mu          sync.Mutex
	dropAnswers int
	rateLimited int
}

// DropNextBalanceAnswer makes the next balance operation apply and then answer with an ErrUnavailable error, as if
// the connection dropped after the platform moved the money.
func (f *Faults) DropNextBalanceAnswer() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropAnswers++
}

// RateLimitNext makes the next n connector calls fail with ErrRateLimited before doing anything.
func (f *Faults) RateLimitNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rateLimited += n
}

func (f *Faults) takeDrop() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dropAnswers == 0 {
		return false
	}
	f.dropAnswers--
	return true
}

func (f *Faults) takeRateLimit() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rateLimited == 0 {
		return false
	}
	f.rateLimited--
	return true
}
