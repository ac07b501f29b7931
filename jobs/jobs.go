// Package jobs is BrokerDesk's Asynq wiring: the queues and their weights, the task envelope every task carries
// (tenant and idempotency key), the worker server, the Redis policy check, and the platform's own tasks (tenant
// provisioning). Modules register their handlers on the same mux.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Queues, most urgent first. Weights give each a share of workers without starving the low ones.
const (
	QueueCritical      = "critical"      // provisioning, money movements
	QueueDefault       = "default"       // most work
	QueueNotifications = "notifications" // emails and live updates
	QueueSync          = "sync"          // trading platform synchronisation
	QueueLow           = "low"           // reports, clean-ups
)

// QueueWeights are the Asynq weights of the queues.
var QueueWeights = map[string]int{QueueCritical: 6, QueueDefault: 3, QueueNotifications: 3, QueueSync: 2, QueueLow: 1}

// Envelope wraps every task's payload with the tenant it belongs to (zero for platform tasks) and the
// idempotency key its handler dedupes on. Asynq's Unique option hashes the payload, so the tenant is in it.
type Envelope struct {
	TenantID uuid.UUID       `json:"tenant_id"`
	Key      string          `json:"key"`
	Payload  json.RawMessage `json:"payload,omitempty"`
}

// NewTask builds a task of type typ whose payload is the envelope of v. Its TaskID is the idempotency key, so
// enqueueing the same work twice while it is pending or retained is refused by Redis itself.
func NewTask(typ string, tenantID uuid.UUID, key string, v any, opts ...asynq.Option) (*asynq.Task, error) {
	if key == "" {
		return nil, errors.New("jobs: a task needs an idempotency key")
	}
	var raw json.RawMessage
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("jobs: encode %s payload: %w", typ, err)
		}
		raw = b
	}
	b, err := json.Marshal(Envelope{TenantID: tenantID, Key: key, Payload: raw})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(typ, b, append([]asynq.Option{asynq.TaskID(typ + ":" + key)}, opts...)...), nil
}

// Open decodes a task's envelope and, if v is not nil, its payload.
func Open(t *asynq.Task, v any) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(t.Payload(), &e); err != nil {
		return e, fmt.Errorf("%w: %s envelope: %v", asynq.SkipRetry, t.Type(), err)
	}
	if v != nil && len(e.Payload) > 0 {
		if err := json.Unmarshal(e.Payload, v); err != nil {
			return e, fmt.Errorf("%w: %s payload: %v", asynq.SkipRetry, t.Type(), err)
		}
	}
	return e, nil
}

// Enqueue enqueues t, treating "already enqueued with this TaskID" as success: the work is already on its way.
func Enqueue(ctx context.Context, c *asynq.Client, t *asynq.Task) error {
	_, err := c.EnqueueContext(ctx, t)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return err
}

// RedisOpt parses BD_REDIS_URL for Asynq.
func RedisOpt(url string) (asynq.RedisConnOpt, error) {
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		return nil, fmt.Errorf("jobs: BD_REDIS_URL: %w", err)
	}
	return opt, nil
}

// CheckRedis refuses a Redis that may evict keys: evicting Asynq's keys loses tasks and fakes lease expiries.
// It reads INFO (CONFIG is often disabled on managed Redis).
func CheckRedis(ctx context.Context, url string) error {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("jobs: BD_REDIS_URL: %w", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return fmt.Errorf("jobs: redis: %w", err)
	}
	return checkPolicy(info)
}

func checkPolicy(info string) error {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok {
			if v != "noeviction" {
				return fmt.Errorf("jobs: redis runs with maxmemory-policy %s; BrokerDesk needs noeviction, or tasks can be lost", v)
			}
			return nil
		}
	}
	return errors.New("jobs: redis INFO has no maxmemory_policy; cannot confirm noeviction")
}

// TaskCheckInterval is how often an idle worker asks Redis for new tasks.
const TaskCheckInterval = 100 * time.Millisecond

// NewServer returns the worker server over the queues above.
func NewServer(opt asynq.RedisConnOpt, concurrency int, shutdownTimeout time.Duration, log *slog.Logger) *asynq.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return asynq.NewServer(opt, WithBatches(asynq.Config{
		Concurrency:     concurrency,
		Queues:          QueueWeights,
		ShutdownTimeout: shutdownTimeout,
		// An idle worker looks for new tasks every TaskCheckInterval (Asynq's default: a second), so a task enqueued
		// into empty queues waited up to a second: most of a portal account opening's time (docs/benchmarks.md,
		// "Account opening"). A tenth of a second costs Redis ten dequeue scripts a second per idle worker.
		TaskCheckInterval: TaskCheckInterval,
		Logger:            asynqLogger{log},
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			retried, _ := asynq.GetRetryCount(ctx)
			max, _ := asynq.GetMaxRetry(ctx)
			log.ErrorContext(ctx, "job failed", "type", t.Type(), "retry", retried, "max_retry", max, "err", err)
		}),
	}))
}

// asynqLogger routes Asynq's own logs into slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
