package mt5

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// MT5 has no idempotency key for balance operations, so the connector makes one: a tag derived from the CRM's
// OperationID starts the deal's comment, followed by as much of the free-text comment as fits. Before moving money,
// and again whenever an attempt's answer was lost, the account's recent balance and credit deals are searched for
// that tag; a deal carrying it is the operation, already done.
//
// The tag must survive the server whole. A comment field holds 32 UTF-16 characters including the terminating NUL,
// so the server keeps 31 and silently cuts the rest; a tag that grew with the id ("bd:" and a 29- to 32-character
// id) was cut, never found again, and a retried deposit was applied twice. So the tag has one length whatever the
// id: "bd:" and the first 80 bits of the id's SHA-256 in 16 lower-case base32 characters (OperationTag). Two ids of
// one account share a tag with a probability near n²/2^81 for n operations in the idempotency window.
const (
	maxComment     = 31 // UTF-16 units the server keeps of a comment
	maxOperationID = 32 // the interface's limit (trading.BalanceOp)
	tagPrefix      = "bd:"
	tagHashBytes   = 10 // 80 bits: 16 base32 characters
	// utcSlack widens the idempotency search window by the largest UTC offset, so the search needs no
	// knowledge of the server's zone (one round trip fewer per operation).
	utcSlack = 14*time.Hour + time.Hour
)

// tagEncoding is base32 in lower case, without padding: letters and digits an operator can read out and search for.
var tagEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// OperationTag is the tag that starts the MT5 comment of the balance operation (and of the account) created with
// operation id id: "bd:" and 16 characters, e.g. "bd:ogqo64mv35egkq7w" for "op-1". It is what to search for in MT5
// Manager to find what BrokerDesk did for that id. The form is fixed: changing it would make every operation done
// before the change invisible to its own retries.
func OperationTag(id string) string {
	sum := sha256.Sum256([]byte(id))
	return tagPrefix + tagEncoding.EncodeToString(sum[:tagHashBytes])
}

// opComment is the comment sent with the operation: the tag, then the caller's text shortened to fit. Length is
// counted in UTF-16 units, as the server stores it.
func opComment(id, text string) string {
	tag := OperationTag(id)
	text = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, text))
	room := maxComment - len(tag) - 1
	if text == "" {
		return tag
	}
	var b strings.Builder
	b.WriteString(tag)
	b.WriteByte(' ')
	for _, r := range text {
		n := utf16.RuneLen(r)
		if n < 0 {
			n = 1
		}
		if room-n < 0 {
			break
		}
		room -= n
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), " ")
}

// hasTag reports whether a deal comment carries the operation's tag (and not merely a longer id's prefix).
func hasTag(comment, tag string) bool {
	return comment == tag || strings.HasPrefix(comment, tag+" ")
}

// checkOperationID enforces the interface's id format.
func checkOperationID(op, id string) error {
	if id == "" {
		return localError(op, trading.ErrInvalidRequest, "an operation id is required: it is what makes the operation idempotent on MT5")
	}
	if len(id) > maxOperationID {
		return localError(op, trading.ErrInvalidRequest, "operation id %q is longer than %d characters", id, maxOperationID)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return localError(op, trading.ErrInvalidRequest, "operation id %q may hold only letters, digits, '-' and '_'", id)
		}
	}
	return nil
}

// balanceType is the /api/trade/balance type: 2 balance (deposit, withdrawal), 3 credit.
func balanceType(kind trading.BalanceKind) (int64, bool) {
	switch kind {
	case trading.Deposit, trading.Withdrawal:
		return dealBalance, true
	case trading.CreditIn, trading.CreditOut:
		return dealCredit, true
	}
	return 0, false
}

// BalanceOperation moves money at most once per OperationID; see the comment on OperationTag for how.
func (c *Connector) BalanceOperation(ctx context.Context, op trading.BalanceOp) (trading.BalanceResult, error) {
	const name = "balance_operation"
	res, err := c.balanceOperation(ctx, name, op)
	return res, toPlatformError(name, err)
}

func (c *Connector) balanceOperation(ctx context.Context, name string, op trading.BalanceOp) (trading.BalanceResult, error) {
	login, err := parseLogin(name, op.Login)
	if err != nil {
		return trading.BalanceResult{}, err
	}
	typ, ok := balanceType(op.Kind)
	if !ok {
		return trading.BalanceResult{}, localError(name, trading.ErrInvalidRequest, "unknown balance operation kind %q", op.Kind)
	}
	if !op.Amount.IsPositive() {
		return trading.BalanceResult{}, localError(name, trading.ErrInvalidRequest, "amount %s must be positive; the kind gives the direction", op.Amount)
	}
	if err := checkOperationID(name, op.OperationID); err != nil {
		return trading.BalanceResult{}, err
	}
	// Two calls with the same id in this process must not both pass the check before either sends.
	unlock := c.opLocks.lock(op.OperationID)
	defer unlock()
	tag := OperationTag(op.OperationID)
	amount := signedAmount(op.Kind, op.Amount)
	log := c.log.With(slog.String("op", name), slog.Uint64("login", login), slog.String("operation_id", op.OperationID))

	// A caller's retry (after a crash, a timeout, a lost answer in an earlier call) must find the first attempt.
	if res, found, err := c.findOperation(ctx, name, login, tag, typ, amount); err != nil || found {
		if found {
			log.Info("mt5 balance operation already applied, not repeating it", slog.String("ticket", res.Ticket))
		}
		return res, err
	}
	if c.afterCheck != nil {
		c.afterCheck()
	}
	q := loginQuery(login)
	q.Set("type", strconv.FormatInt(typ, 10))
	q.Set("balance", amount.String())
	q.Set("comment", opComment(op.OperationID, op.Comment))
	if amount.IsNegative() {
		q.Set("check_margin", "1") // refuse a withdrawal that would eat into used margin
	} else {
		q.Set("check_margin", "0")
	}
	req := request{op: name, method: http.MethodGet, path: "/api/trade/balance", query: q, unsafe: true}
	for sends := 1; ; sends++ {
		ans, err := c.call(ctx, req)
		if err == nil {
			ticket, perr := parseTicket(ans)
			if perr != nil {
				// Applied, but the receipt is unreadable: the deal itself is the receipt.
				err = &transportError{cause: fmt.Errorf("/api/trade/balance: %w", perr), sent: true}
			} else {
				log.Info("mt5 balance operation applied", slog.Uint64("ticket", ticket))
				return trading.BalanceResult{Ticket: strconv.FormatUint(ticket, 10)}, nil
			}
		}
		var te *transportError
		if !errors.As(err, &te) || !te.sent {
			return trading.BalanceResult{}, err // refused by the server or never sent: no money moved
		}
		// The request reached the server but its answer did not reach us: look before sending again.
		log.Warn("mt5 balance operation answer lost, checking whether it was applied", slog.String("error", err.Error()))
		res, found, ferr := c.findOperation(ctx, name, login, tag, typ, amount)
		if ferr != nil {
			return trading.BalanceResult{}, &trading.PlatformError{Kind: trading.ErrUnavailable, Platform: trading.PlatformMT5, Op: name,
				Code: "unknown_outcome", Message: fmt.Sprintf("the answer was lost and checking failed (%v); "+
					"retry with the same operation id, which is safe", ferr)}
		}
		if found {
			log.Info("mt5 balance operation found applied after a lost answer", slog.String("ticket", res.Ticket))
			return res, nil
		}
		if timedOut(err) {
			// We gave up waiting, but the server may still be executing the request: a resend now could move the
			// money twice. The caller's later retry checks again before sending.
			return trading.BalanceResult{}, &trading.PlatformError{Kind: trading.ErrUnavailable, Platform: trading.PlatformMT5, Op: name,
				Code: "unknown_outcome", Message: "the server did not answer in time and the operation is not recorded yet; " +
					"retry later with the same operation id, which is safe"}
		}
		if sends > c.cfg.MaxRetries {
			return trading.BalanceResult{}, err
		}
		if werr := c.backoff(ctx, sends); werr != nil {
			return trading.BalanceResult{}, werr
		}
	}
}

// timedOut tells our own timeout (the server may still be working on the request) from a connection the server
// closed (it is done with the request, or never read it).
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// findOperation looks for the balance or credit deal tagged with the operation in the account's recent deals.
// A tagged deal whose type or amount differ means the id was reused for another movement: that is refused rather
// than taken as this operation's receipt.
func (c *Connector) findOperation(ctx context.Context, name string, login uint64, tag string, typ int64, amount decimal.Decimal) (trading.BalanceResult, bool, error) {
	now := c.cfg.Now()
	q := loginQuery(login)
	q.Set("from", strconv.FormatInt(now.Add(-c.cfg.IdempotencyWindow-utcSlack).Unix(), 10))
	q.Set("to", strconv.FormatInt(now.Add(utcSlack).Unix(), 10))
	ans, err := c.call(ctx, request{op: name, method: http.MethodGet, path: "/api/deal/get_batch", query: q})
	if errors.Is(err, trading.ErrNotFound) {
		return trading.BalanceResult{}, false, nil // no deals in the window (or no account: the operation will say)
	}
	if err != nil {
		return trading.BalanceResult{}, false, err
	}
	deals, err := parseDeals(ans)
	if err != nil {
		return trading.BalanceResult{}, false, &transportError{cause: fmt.Errorf("/api/deal/get_batch: %w", err), sent: true}
	}
	for i := len(deals) - 1; i >= 0; i-- { // newest last in the answer; the operation is most likely recent
		d := deals[i]
		if (d.Action != dealBalance && d.Action != dealCredit) || !hasTag(d.Comment, tag) {
			continue
		}
		if d.Action != typ || !d.Profit.Equal(amount) {
			return trading.BalanceResult{}, false, localError(name, trading.ErrAlreadyExists,
				"operation id in %q was already used for another movement (deal %d: type %d, amount %s)", tag, d.Ticket, d.Action, d.Profit)
		}
		return trading.BalanceResult{Ticket: strconv.FormatUint(d.Ticket, 10), Replayed: true}, true, nil
	}
	return trading.BalanceResult{}, false, nil
}

// keyedLock serialises calls that share a key and lets others run.
type keyedLock struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu      sync.Mutex
	waiters int
}

func (k *keyedLock) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.waiters++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.waiters--; e.waiters == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
