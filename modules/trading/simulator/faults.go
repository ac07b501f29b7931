package simulator

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// Faults makes the simulator misbehave the way real platforms do, so the contract suite (tradingtest) and the
// flows above the connectors (deal sync) can check that callers survive it. Nothing in production calls these.
type Faults struct {
	sim         *Simulator
	mu          sync.Mutex
	dropAnswers int
	rateLimited int
	byHand      int
}

// AmendDeal changes a closed trade deal's profit and comment after the fact, as an MT5 manager may
// (/api/deal/update): the deal keeps its ticket and time, and the balance moves by the change of profit, so it
// stays the sum of the account's deals. Like every change it is journaled (fsync'd) and survives a restart.
func (f *Faults) AmendDeal(login, ticket string, profit decimal.Decimal, comment string) error {
	const op = "amend_deal"
	n, err := strconv.ParseInt(ticket, 10, 64)
	if err != nil {
		return f.sim.perr(op, trading.ErrInvalidRequest, "bad_ticket", "ticket %q", ticket)
	}
	return f.sim.changeDeal(op, login, n, event{Type: evDealAmended, Amended: &amendedEv{Login: login, Ticket: n, Profit: profit, Comment: comment}})
}

// DeleteDeal removes a buy or sell deal from the account's history, as an MT5 manager may (/api/deal/delete) or a
// gateway cancelling a filled deal does: ClosedDeals no longer lists it, and the balance loses what the deal
// brought (profit, commission, swap). Journaled like AmendDeal.
func (f *Faults) DeleteDeal(login, ticket string) error {
	const op = "delete_deal"
	n, err := strconv.ParseInt(ticket, 10, 64)
	if err != nil {
		return f.sim.perr(op, trading.ErrInvalidRequest, "bad_ticket", "ticket %q", ticket)
	}
	return f.sim.changeDeal(op, login, n, event{Type: evDealDeleted, Deleted: &deletedEv{Login: login, Ticket: n}})
}

// LeverageByHand changes the account's leverage as a dealer in the platform's own manager terminal would, behind
// the CRM's back: what the CRM's drift check must find (and heal). Journaled like every change.
func (f *Faults) LeverageByHand(login string, leverage int) error {
	return f.sim.SetLeverage(context.Background(), login, leverage)
}

// BalanceByHand makes a balance operation no CRM asked for, as a dealer's deposit (amount > 0) or withdrawal
// (amount < 0) by hand: money drift for the CRM's check, which must never heal it. Each call is a new operation.
func (f *Faults) BalanceByHand(login string, amount decimal.Decimal, comment string) error {
	return f.byHandOp(login, amount, comment, trading.Deposit, trading.Withdrawal, "hand")
}

// CreditByHand gives (amount > 0) or takes (amount < 0) credit on the account as a dealer would by hand, behind the
// CRM's back: credit drift for the CRM's check, which must never heal it. Each call is a new operation.
func (f *Faults) CreditByHand(login string, amount decimal.Decimal, comment string) error {
	return f.byHandOp(login, amount, comment, trading.CreditIn, trading.CreditOut, "hand-c")
}

// byHandOp is a balance operation of kind in (amount > 0) or out (amount < 0) under a new operation id.
func (f *Faults) byHandOp(login string, amount decimal.Decimal, comment string, in, out trading.BalanceKind, prefix string) error {
	kind := in
	if amount.IsNegative() {
		kind, amount = out, amount.Neg()
	}
	f.mu.Lock()
	f.byHand++
	id := fmt.Sprintf("%s-%d-%d", prefix, f.sim.now().UnixNano(), f.byHand)
	f.mu.Unlock()
	_, err := f.sim.BalanceOperation(context.Background(), trading.BalanceOp{Login: login, Kind: kind, Amount: amount, OperationID: id,
		Comment: comment})
	return err
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
