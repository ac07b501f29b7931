package emails

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// A queued email's delivery marker in Redis, per tenant and idempotency key: "sending" while one delivery of its
// task holds it (it lapses after claimTTL, so a worker that died mid-send does not block the email for good),
// "sent" for sentTTL once SMTP accepted the message. It turns Asynq's at-least-once delivery into one email for
// every duplicate delivery except one that follows a crash between SMTP's acceptance and the "sent" mark.
const (
	claimTTL = sendTimeout + 30*time.Second
	sentTTL  = 8 * 24 * time.Hour // longer than the outbox keeps a key (7 days) and than a task's last retry
)

// errSendingElsewhere is a delivery that found another delivery of the same email in flight: retried later.
var errSendingElsewhere = errors.New("emails: another delivery of this email is being sent")

// dedupe is the Redis side of the marker; nil sends on every delivery.
type dedupe struct {
	rdb redis.UniversalClient
}

func markerKey(tenantID uuid.UUID, key string) string {
	sum := sha256.Sum256([]byte(key)) // the caller's key may name a client: keep it out of Redis
	return "brokerdesk:emails:sent:" + tenantID.String() + ":" + hex.EncodeToString(sum[:])
}

// claim reports whether this delivery may send: false with no error when the email was already sent.
func (d *dedupe) claim(ctx context.Context, k string) (bool, error) {
	ok, err := d.rdb.SetNX(ctx, k, "sending", claimTTL).Result()
	if err != nil {
		return false, fmt.Errorf("emails: claim delivery: %w", err)
	}
	if ok {
		return true, nil
	}
	v, err := d.rdb.Get(ctx, k).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("emails: read delivery marker: %w", err)
	}
	if v == "sent" {
		return false, nil
	}
	return false, errSendingElsewhere // in flight, or lapsed just now: a retry decides
}

// release frees a claim after a failed send, so the retry need not wait for it to lapse.
func (d *dedupe) release(ctx context.Context, k string) error {
	return d.rdb.Del(context.WithoutCancel(ctx), k).Err()
}

// sent marks the email sent.
func (d *dedupe) sent(ctx context.Context, k string) error {
	return d.rdb.Set(context.WithoutCancel(ctx), k, "sent", sentTTL).Err()
}
