package auth_test

import (
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

func TestLockoutRule(t *testing.T) {
	t.Parallel()
	p := auth.DefaultLockoutPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	// A step is a failed login at an offset from now, or a success (ok).
	type step struct {
		at time.Duration
		ok bool
	}
	fails := func(at ...time.Duration) []step {
		s := make([]step, len(at))
		for i, a := range at {
			s[i] = step{at: a}
		}
		return s
	}
	five := fails(0, time.Minute, 2*time.Minute, 3*time.Minute, 4*time.Minute) // locks at +4m
	cases := []struct {
		name  string
		steps []step
		check time.Duration // when RetryAfter is asked
		want  time.Duration
	}{
		{"four failures do not lock", fails(0, time.Minute, 2*time.Minute, 3*time.Minute), 3 * time.Minute, 0},
		{"the fifth failure within the window locks for a minute", five, 4 * time.Minute, time.Minute},
		{"the lock counts down", five, 4*time.Minute + 20*time.Second, 40 * time.Second},
		{"the lock ends", five, 5 * time.Minute, 0},
		{"five failures spread beyond the window do not lock", fails(0, 4*time.Minute, 8*time.Minute, 12*time.Minute, 16*time.Minute), 16 * time.Minute, 0},
		{"a success forgets the failures", append(append(fails(0, time.Minute, 2*time.Minute, 3*time.Minute), step{at: 3*time.Minute + 30*time.Second, ok: true}), fails(4*time.Minute)...), 4 * time.Minute, 0},
		{"the second lock lasts two minutes", append(five, fails(6*time.Minute, 6*time.Minute, 6*time.Minute, 6*time.Minute, 6*time.Minute)...), 6 * time.Minute, 2 * time.Minute},
		{"failures during a lock neither count nor extend it", append(five, fails(4*time.Minute+10*time.Second, 4*time.Minute+20*time.Second, 4*time.Minute+30*time.Second, 4*time.Minute+40*time.Second, 4*time.Minute+50*time.Second)...), 5 * time.Minute, 0},
		{"a day without failures starts escalation over", append(append(five, fails(6*time.Minute, 6*time.Minute, 6*time.Minute, 6*time.Minute, 6*time.Minute)...), fails(30*time.Hour, 30*time.Hour, 30*time.Hour, 30*time.Hour, 30*time.Hour)...), 30 * time.Hour, time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var s auth.LoginState
			for _, st := range tc.steps {
				if st.ok {
					s = p.Succeeded(s)
				} else {
					s = p.Failed(s, now.Add(st.at))
				}
			}
			if got := p.RetryAfter(s, now.Add(tc.check)); got != tc.want {
				t.Fatalf("RetryAfter = %v, want %v (state %+v)", got, tc.want, s)
			}
		})
	}
}

func TestLockoutGrowsToItsCap(t *testing.T) {
	t.Parallel()
	p := auth.DefaultLockoutPolicy()
	var s auth.LoginState
	at := now
	var got []time.Duration
	for range 9 {
		for range p.MaxFailures {
			s = p.Failed(s, at)
		}
		d := p.RetryAfter(s, at)
		got = append(got, d)
		at = at.Add(d) // retry as soon as the lock ends
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i := range want {
		if got[i] != want[i]*time.Minute {
			t.Fatalf("lock lengths %v, want %v minutes", got, want)
		}
	}
}

func TestLockoutPolicyValidate(t *testing.T) {
	t.Parallel()
	bad := []auth.LockoutPolicy{
		{},
		{MaxFailures: 5, Window: time.Minute, BaseLockout: time.Minute, MaxLockout: time.Second, ForgetAfter: time.Hour},
		{MaxFailures: 5, Window: time.Hour, BaseLockout: time.Minute, MaxLockout: time.Hour, ForgetAfter: time.Minute},
	}
	for _, p := range bad {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}
