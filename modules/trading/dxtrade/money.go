package dxtrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// operationIDRE is trading.BalanceOp's documented OperationID shape; it becomes a URL path segment as it is.
var operationIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// maxDescription bounds the description sent with a movement. DXtrade publishes no limit; 255 is what a
// back-office column usually holds (inferred), and the OperationID travels in the path anyway.
const maxDescription = 255

// BalanceOperation moves money at most once per OperationID:
//   - deposit and withdrawal are PUT .../deposit/{id} and .../withdrawal/{id} with id = OperationID; DXtrade
//     answers a second PUT with the same id with 409, which the connector reports as Replayed;
//   - credit in and out change the account's credit with a conditional update that also records the
//     OperationID in the account's metadata (see changeCredit).
//
// The ticket is the OperationID itself: DXtrade keys the movement by it and offers no other id to look it up by.
func (c *Connector) BalanceOperation(ctx context.Context, op trading.BalanceOp) (trading.BalanceResult, error) {
	const name = "balance_operation"
	if err := checkLogin(name, op.Login); err != nil {
		return trading.BalanceResult{}, err
	}
	if !operationIDRE.MatchString(op.OperationID) {
		return trading.BalanceResult{}, invalid(name, "operation id %q is not 1-32 characters of [A-Za-z0-9_-]",
			clip(op.OperationID, 40))
	}
	if !op.Amount.IsPositive() {
		return trading.BalanceResult{}, invalid(name, "amount %s is not positive", op.Amount)
	}
	switch op.Kind {
	case trading.Deposit:
		return c.transfer(ctx, name, "deposit", op)
	case trading.Withdrawal:
		return c.transfer(ctx, name, "withdrawal", op)
	case trading.CreditIn:
		return c.changeCredit(ctx, name, op, op.Amount)
	case trading.CreditOut:
		return c.changeCredit(ctx, name, op, op.Amount.Neg())
	default:
		return trading.BalanceResult{}, invalid(name, "unknown balance operation kind %q", op.Kind)
	}
}

// transfer is one deposit or withdrawal PUT. It may be sent more than once (after a lost answer): the id in the
// path makes every copy after the first a 409.
func (c *Connector) transfer(ctx context.Context, name, kind string, op trading.BalanceOp) (trading.BalanceResult, error) {
	currency, err := c.currencyOf(ctx, name, op.Login)
	if err != nil {
		return trading.BalanceResult{}, err
	}
	err = c.do(ctx, &call{api: adminAPI, method: http.MethodPut, op: name, resend: true,
		path: c.accountPath(op.Login) + "/" + kind + "/" + url.PathEscape(op.OperationID),
		body: transferBody{Currency: currency, Amount: jsonNum(op.Amount), Description: description(kind, op)}})
	switch {
	case err == nil:
		return trading.BalanceResult{Ticket: op.OperationID}, nil
	case errors.Is(err, trading.ErrAlreadyExists):
		c.log.Info("dxtrade movement already applied", "op", name, "kind", kind, "login", op.Login,
			"operation_id", op.OperationID)
		return trading.BalanceResult{Ticket: op.OperationID, Replayed: true}, nil
	default:
		return trading.BalanceResult{}, err
	}
}

// transferBody is the body of a deposit, withdrawal or adjustment.
type transferBody struct {
	Currency    string  `json:"currency"`
	Amount      jsonNum `json:"amount"`
	Description string  `json:"description,omitempty"`
}

func description(kind string, op trading.BalanceOp) string {
	d := op.Comment
	if d == "" {
		d = "BrokerDesk " + kind + " " + op.OperationID
	}
	if len(d) <= maxDescription {
		return d
	}
	d = d[:maxDescription]
	for !utf8.ValidString(d) { // never cut a character in half
		d = d[:len(d)-1]
	}
	return d
}

// currencyOf returns the account's currency, which every movement must name.
func (c *Connector) currencyOf(ctx context.Context, op, login string) (string, error) {
	if v, ok := c.currencies.Load(login); ok {
		return v.(string), nil
	}
	wa, _, err := c.getAccount(ctx, op, login)
	if err != nil {
		return "", err
	}
	if wa.Currency == "" {
		return "", badAnswer(op, fmt.Errorf("account %s has no currency", login))
	}
	return wa.Currency, nil
}

// metaCreditPrefix + OperationID is the metadata key that marks a credit change as applied.
const metaCreditPrefix = "brokerdesk.credit."

// maxCreditAttempts bounds how often changeCredit reads again after the account changed under it. Each 412 means
// another writer made progress, so this is only reached under sustained concurrent changes to one account.
const maxCreditAttempts = 10

// changeCredit adds delta to the account's credit. DXtrade has no credit movement keyed by id, only the account's
// credit value, so the connector makes one itself: it reads the account, and writes the new credit together with
// a metadata key for the OperationID in ONE update, conditional on the ETag it read (If-Match). Either both land
// or neither, so the key's presence means "already applied". A lost answer or a concurrent change shows up as
// 412 on the next write, after which the connector reads again and finds its key or a fresh credit value.
// Metadata keeps one small key per credit operation; credits are rare enough that this never grows large.
func (c *Connector) changeCredit(ctx context.Context, name string, op trading.BalanceOp, delta decimal.Decimal) (trading.BalanceResult, error) {
	// Within one process, take turns: without this, parallel credits on one account would mostly meet 412s.
	unlock := c.creditLocks.lock(op.Login)
	defer unlock()
	key := metaCreditPrefix + op.OperationID
	for range maxCreditAttempts {
		wa, etag, err := c.getAccount(ctx, name, op.Login)
		if err != nil {
			return trading.BalanceResult{}, err
		}
		if _, done := wa.Metadata[key]; done {
			c.log.Info("dxtrade credit change already applied", "op", name, "login", op.Login,
				"operation_id", op.OperationID)
			return trading.BalanceResult{Ticket: op.OperationID, Replayed: true}, nil
		}
		credit := wa.Credit.d.Add(delta)
		if credit.IsNegative() {
			return trading.BalanceResult{}, platformError(trading.ErrInsufficientFunds, name, "credit",
				fmt.Sprintf("credit %s is less than %s", wa.Credit.d, delta.Neg()))
		}
		meta := maps.Clone(wa.Metadata)
		if meta == nil {
			meta = map[string]json.RawMessage{}
		}
		record, _ := json.Marshal(fmt.Sprintf("%s %s", op.Kind, op.Amount))
		meta[key] = record
		cl := &call{api: adminAPI, method: http.MethodPut, path: c.accountPath(op.Login), op: name,
			body: creditUpdate{Credit: jsonNum(credit), Metadata: meta}}
		if etag != "" {
			// A conditional write lands at most once however often it is sent, so it may be resent.
			cl.header = map[string]string{"If-Match": etag}
			cl.resend = true
		}
		err = c.do(ctx, cl)
		if err == nil {
			return trading.BalanceResult{Ticket: op.OperationID}, nil
		}
		if cl.status != http.StatusPreconditionFailed {
			return trading.BalanceResult{}, err
		}
		c.log.Info("dxtrade account changed during a credit change, reading again", "op", name, "login", op.Login)
	}
	return trading.BalanceResult{}, platformError(trading.ErrUnavailable, name, "412",
		"the account kept changing during the credit change; try again")
}

type creditUpdate struct {
	Credit   jsonNum                    `json:"credit"`
	Metadata map[string]json.RawMessage `json:"metadata"`
}
