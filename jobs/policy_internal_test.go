package jobs

import "testing"

func TestRedisPolicyCheckAcceptsOnlyNoeviction(t *testing.T) {
	t.Parallel()
	cases := []struct {
		info string
		ok   bool
	}{
		{"# Memory\r\nused_memory:1\r\nmaxmemory_policy:noeviction\r\n", true},
		{"# Memory\r\nmaxmemory_policy:allkeys-lru\r\n", false},
		{"# Memory\r\nmaxmemory_policy:volatile-ttl\r\n", false},
		{"# Memory\r\nused_memory:1\r\n", false},
	}
	for _, c := range cases {
		if err := checkPolicy(c.info); (err == nil) != c.ok {
			t.Errorf("checkPolicy(%q) = %v, want ok=%v", c.info, err, c.ok)
		}
	}
}
