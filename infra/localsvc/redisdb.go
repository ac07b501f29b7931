package localsvc

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisDatabases is how many databases the project's Redis offers (redis-server --databases): enough for every
// test that runs a job worker to hold one of its own at once.
const redisDatabases = 128

// RedisDB returns the URL of a Redis database that no other test holds while this one runs, for tests whose job
// workers must take only their own tasks (a worker that took another test's task would drop it: the tenant is not
// in its platform). Test processes of several packages run at once, so the claim lives in Redis itself: database N
// is held by a key in database 0 set only if absent, with an expiry as a safety net for a process that dies. At
// cleanup the database is emptied and given back. BD_REDIS_URL must be set (RunTests with Redis does that).
func RedisDB(t testing.TB) string {
	t.Helper()
	base := os.Getenv("BD_REDIS_URL")
	if base == "" {
		t.Fatal("localsvc.RedisDB: BD_REDIS_URL is not set: start Redis with localsvc.RunTests(m, localsvc.Redis)")
	}
	opt, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("localsvc.RedisDB: %v", err)
	}
	ctx := context.Background()
	opt.DB = 0
	admin := redis.NewClient(opt)
	defer admin.Close()
	n := 16 // what an outside Redis offers by default
	if v, err := admin.ConfigGet(ctx, "databases").Result(); err == nil {
		if got, err := strconv.Atoi(v["databases"]); err == nil && got > 1 {
			n = got
		}
	}
	token := fmt.Sprintf("%s:%d:%d", t.Name(), os.Getpid(), time.Now().UnixNano())
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for db := 1; db < n; db++ {
			key := fmt.Sprintf("brokerdesk:test:redis-db:%d", db)
			ok, err := admin.SetNX(ctx, key, token, 30*time.Minute).Result()
			if err != nil {
				t.Fatalf("localsvc.RedisDB: %v", err)
			}
			if !ok {
				continue
			}
			t.Cleanup(func() {
				c := redis.NewClient(withDB(opt, db))
				_ = c.FlushDB(context.Background()).Err()
				c.Close()
				a := redis.NewClient(withDB(opt, 0))
				if a.Get(context.Background(), key).Val() == token {
					a.Del(context.Background(), key)
				}
				a.Close()
			})
			u, _ := url.Parse(base)
			u.Path = "/" + strconv.Itoa(db)
			return u.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("localsvc.RedisDB: all %d Redis databases are held by other tests", n-1)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func withDB(o *redis.Options, db int) *redis.Options {
	c := *o
	c.DB = db
	return &c
}
