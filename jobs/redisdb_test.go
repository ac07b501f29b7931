package jobs_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
)

// The test fixture the worker tests rely on: two tests running at once never share a Redis database, and a
// database comes back empty to the next test that claims it.
func TestRedisDBGivesConcurrentTestsDatabasesOfTheirOwn(t *testing.T) {
	t.Parallel()
	first, second := localsvc.RedisDB(t), localsvc.RedisDB(t)
	if first == second {
		t.Fatalf("two claims got the same database %s", first)
	}
	var released string
	t.Run("claim, dirty and release", func(t *testing.T) {
		released = localsvc.RedisDB(t)
		opt, err := redis.ParseURL(released)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		defer c.Close()
		if err := c.Set(context.Background(), "left-behind", "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
	})
	opt, err := redis.ParseURL(released)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if n, err := c.DBSize(context.Background()).Result(); err != nil || n != 0 {
		t.Fatalf("a released database holds %d keys (%v), want it emptied", n, err)
	}
}
