package simulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// The simulator's state lives in its directory as a snapshot (the whole state at some sequence number) plus a
// journal of every event after it, one JSON object per line. Every change is built as an event first, written to
// the journal, and only then applied to memory through the same apply used on replay: memory can never hold
// something the disk does not, and replay cannot disagree with what ran live. Events carry their results (tickets,
// profits, prices), never inputs to recompute, so replay needs no prices, clock or randomness.
const (
	journalFile  = "journal.jsonl"
	snapshotFile = "snapshot.json"
	lockFile     = "lock"
)

// state is everything the simulator knows. It is JSON as it stands: the snapshot is this struct.
type state struct {
	Seq          int64                    `json:"seq"`
	NextLogin    int64                    `json:"next_login"`
	NextTicket   int64                    `json:"next_ticket"`
	NextPosition int64                    `json:"next_position"`
	Accounts     map[string]*accountState `json:"accounts"`
	// BalanceOps remembers every balance operation by the CRM's OperationID: this is the idempotency.
	BalanceOps map[string]opRecord `json:"balance_ops"`
	// CreateOps remembers which login each account-creation OperationID made.
	CreateOps map[string]string `json:"create_ops"`
	Prices    quotes            `json:"prices"`
}

type accountState struct {
	Login          string          `json:"login"`
	Group          string          `json:"group"`
	Currency       string          `json:"currency"`
	Leverage       int             `json:"leverage"`
	FirstName      string          `json:"first_name,omitempty"`
	LastName       string          `json:"last_name,omitempty"`
	Email          string          `json:"email,omitempty"`
	LoginEnabled   bool            `json:"login_enabled"`
	TradingEnabled bool            `json:"trading_enabled"`
	PassMain       string          `json:"pass_main"`
	PassInvestor   string          `json:"pass_investor,omitempty"`
	Balance        decimal.Decimal `json:"balance"`
	Credit         decimal.Decimal `json:"credit"`
	Positions      []positionRec   `json:"positions,omitempty"`
	// Deals are kept sorted by (Time, Ticket): that order is what ClosedDeals pages over.
	Deals []dealRec `json:"deals,omitempty"`
}

type opRecord struct {
	Login  string              `json:"login"`
	Kind   trading.BalanceKind `json:"kind"`
	Amount decimal.Decimal     `json:"amount"`
	Ticket int64               `json:"ticket"`
}

type positionRec struct {
	ID        int64           `json:"id"`
	Symbol    string          `json:"symbol"`
	Side      trading.Side    `json:"side"`
	Volume    decimal.Decimal `json:"volume"`
	OpenPrice decimal.Decimal `json:"open_price"`
	OpenTime  time.Time       `json:"open_time"`
}

type dealRec struct {
	Ticket     int64              `json:"ticket"`
	PositionID int64              `json:"position_id,omitempty"`
	Action     trading.DealAction `json:"action"`
	Entry      trading.DealEntry  `json:"entry,omitempty"`
	Symbol     string             `json:"symbol,omitempty"`
	Volume     decimal.Decimal    `json:"volume"`
	Price      decimal.Decimal    `json:"price"`
	Profit     decimal.Decimal    `json:"profit"`
	Commission decimal.Decimal    `json:"commission"`
	Swap       decimal.Decimal    `json:"swap"`
	Time       time.Time          `json:"time"`
	Comment    string             `json:"comment,omitempty"`
}

func (d dealRec) before(o dealRec) bool {
	if !d.Time.Equal(o.Time) {
		return d.Time.Before(o.Time)
	}
	return d.Ticket < o.Ticket
}

func newState(firstLogin int64, prices quotes) *state {
	return &state{
		NextLogin:    firstLogin,
		NextTicket:   1,
		NextPosition: 1,
		Accounts:     map[string]*accountState{},
		BalanceOps:   map[string]opRecord{},
		CreateOps:    map[string]string{},
		Prices:       prices,
	}
}

type eventType string

const (
	evAccountCreated eventType = "account_created"
	evLeverageSet    eventType = "leverage_set"
	evGroupMoved     eventType = "group_moved"
	evAccessSet      eventType = "access_set"
	evPasswordSet    eventType = "password_set"
	evBalance        eventType = "balance"
	evDealsSeeded    eventType = "deals_seeded"
	evPositionOpened eventType = "position_opened"
	evPositionClosed eventType = "position_closed"
	evPrices         eventType = "prices"
	evDealAmended    eventType = "deal_amended"
	evDealDeleted    eventType = "deal_deleted"
)

// event is one journal line. Exactly the payload named by Type is set.
type event struct {
	Seq  int64     `json:"seq"`
	At   time.Time `json:"at"`
	Type eventType `json:"type"`

	Created  *createdEv  `json:"created,omitempty"`
	Leverage *leverageEv `json:"leverage,omitempty"`
	Group    *groupEv    `json:"group,omitempty"`
	Access   *accessEv   `json:"access,omitempty"`
	Password *passwordEv `json:"password,omitempty"`
	Balance  *balanceEv  `json:"balance,omitempty"`
	Seeded   *seededEv   `json:"seeded,omitempty"`
	Opened   *openedEv   `json:"opened,omitempty"`
	Closed   *closedEv   `json:"closed,omitempty"`
	Prices   quotes      `json:"prices,omitempty"`
	Amended  *amendedEv  `json:"amended,omitempty"`
	Deleted  *deletedEv  `json:"deleted,omitempty"`
}

type createdEv struct {
	Account accountState `json:"account"`
	// Chosen is true when the login came from the sequence, which then moves past it.
	Chosen      bool   `json:"chosen,omitempty"`
	OperationID string `json:"operation_id,omitempty"`
}

type leverageEv struct {
	Login    string `json:"login"`
	Leverage int    `json:"leverage"`
}

type groupEv struct {
	Login string `json:"login"`
	Group string `json:"group"`
}

type accessEv struct {
	Login          string `json:"login"`
	LoginEnabled   bool   `json:"login_enabled"`
	TradingEnabled bool   `json:"trading_enabled"`
}

type passwordEv struct {
	Login string               `json:"login"`
	Kind  trading.PasswordKind `json:"kind"`
	Hash  string               `json:"hash"`
}

type balanceEv struct {
	Login       string              `json:"login"`
	Kind        trading.BalanceKind `json:"kind"`
	Amount      decimal.Decimal     `json:"amount"`
	OperationID string              `json:"operation_id"`
	Deal        dealRec             `json:"deal"`
}

type seededEv struct {
	Login string    `json:"login"`
	Deals []dealRec `json:"deals"`
}

type openedEv struct {
	Login    string      `json:"login"`
	Position positionRec `json:"position"`
	Deal     dealRec     `json:"deal"`
}

type closedEv struct {
	Login      string  `json:"login"`
	PositionID int64   `json:"position_id"`
	Deal       dealRec `json:"deal"`
}

// amendedEv is a manager's change of a closed deal's profit and comment (Faults.AmendDeal); the balance moves by
// the change of profit.
type amendedEv struct {
	Login   string          `json:"login"`
	Ticket  int64           `json:"ticket"`
	Profit  decimal.Decimal `json:"profit"`
	Comment string          `json:"comment"`
}

// deletedEv is a manager's deletion of a trade deal (Faults.DeleteDeal); the balance loses what the deal brought.
type deletedEv struct {
	Login  string `json:"login"`
	Ticket int64  `json:"ticket"`
}

// moneyEvent reports whether losing the event in a crash would lose money that moved; those are fsync'd before the
// caller hears about them.
func (e event) moneyEvent() bool {
	switch e.Type {
	case evBalance, evPositionOpened, evPositionClosed, evAccountCreated, evDealAmended, evDealDeleted:
		return true
	}
	return false
}

// parseEvent reads one journal line and checks it is well formed: a known type with its payload and nothing else.
// Whether it fits the state (the login exists, ...) is apply's business.
func parseEvent(line []byte) (event, error) {
	var ev event
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return event{}, fmt.Errorf("decode journal line: %w", err)
	}
	if dec.More() {
		return event{}, errors.New("journal line holds more than one JSON value")
	}
	if ev.Seq <= 0 {
		return event{}, fmt.Errorf("journal event has sequence %d", ev.Seq)
	}
	payloads := map[eventType]bool{
		evAccountCreated: ev.Created != nil,
		evLeverageSet:    ev.Leverage != nil,
		evGroupMoved:     ev.Group != nil,
		evAccessSet:      ev.Access != nil,
		evPasswordSet:    ev.Password != nil,
		evBalance:        ev.Balance != nil,
		evDealsSeeded:    ev.Seeded != nil,
		evPositionOpened: ev.Opened != nil,
		evPositionClosed: ev.Closed != nil,
		evPrices:         len(ev.Prices) > 0, // an empty map would vanish on re-encoding (omitempty)
		evDealAmended:    ev.Amended != nil,
		evDealDeleted:    ev.Deleted != nil,
	}
	set, known := payloads[ev.Type]
	if !known {
		return event{}, fmt.Errorf("journal event %d has unknown type %q", ev.Seq, ev.Type)
	}
	if !set {
		return event{}, fmt.Errorf("journal event %d of type %s has no %s payload", ev.Seq, ev.Type, ev.Type)
	}
	for t, has := range payloads {
		if has && t != ev.Type {
			return event{}, fmt.Errorf("journal event %d of type %s also carries a %s payload", ev.Seq, ev.Type, t)
		}
	}
	return ev, nil
}

func encodeEvent(ev event) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode journal event %s: %w", ev.Type, err)
	}
	return append(b, '\n'), nil
}

func (st *state) account(login string) (*accountState, error) {
	a, ok := st.Accounts[login]
	if !ok {
		return nil, fmt.Errorf("login %s does not exist", login)
	}
	return a, nil
}

// apply changes the state by one event. It is the only code that mutates state, live and on replay; an error
// means the journal does not fit the state (corruption), never a business refusal, which happens before the event
// is built.
func (st *state) apply(ev event) error {
	if ev.Seq != st.Seq+1 {
		return fmt.Errorf("event sequence %d follows %d", ev.Seq, st.Seq)
	}
	switch ev.Type {
	case evAccountCreated:
		a := ev.Created.Account
		if _, dup := st.Accounts[a.Login]; dup || a.Login == "" {
			return fmt.Errorf("account %q created twice", a.Login)
		}
		st.Accounts[a.Login] = &a
		if ev.Created.Chosen {
			n, err := strconv.ParseInt(a.Login, 10, 64)
			if err != nil {
				return fmt.Errorf("sequence login %q: %w", a.Login, err)
			}
			st.NextLogin = n + 1
		}
		if ev.Created.OperationID != "" {
			st.CreateOps[ev.Created.OperationID] = a.Login
		}
	case evLeverageSet:
		a, err := st.account(ev.Leverage.Login)
		if err != nil {
			return err
		}
		a.Leverage = ev.Leverage.Leverage
	case evGroupMoved:
		a, err := st.account(ev.Group.Login)
		if err != nil {
			return err
		}
		a.Group = ev.Group.Group
	case evAccessSet:
		a, err := st.account(ev.Access.Login)
		if err != nil {
			return err
		}
		a.LoginEnabled, a.TradingEnabled = ev.Access.LoginEnabled, ev.Access.TradingEnabled
	case evPasswordSet:
		a, err := st.account(ev.Password.Login)
		if err != nil {
			return err
		}
		switch ev.Password.Kind {
		case trading.PasswordMain:
			a.PassMain = ev.Password.Hash
		case trading.PasswordInvestor:
			a.PassInvestor = ev.Password.Hash
		default:
			return fmt.Errorf("password kind %q", ev.Password.Kind)
		}
	case evBalance:
		b := ev.Balance
		a, err := st.account(b.Login)
		if err != nil {
			return err
		}
		switch b.Kind {
		case trading.Deposit:
			a.Balance = a.Balance.Add(b.Amount)
		case trading.Withdrawal:
			a.Balance = a.Balance.Sub(b.Amount)
		case trading.CreditIn:
			a.Credit = a.Credit.Add(b.Amount)
		case trading.CreditOut:
			a.Credit = a.Credit.Sub(b.Amount)
		default:
			return fmt.Errorf("balance kind %q", b.Kind)
		}
		st.addDeals(a, b.Deal)
		st.BalanceOps[b.OperationID] = opRecord{Login: b.Login, Kind: b.Kind, Amount: b.Amount, Ticket: b.Deal.Ticket}
	case evDealsSeeded:
		a, err := st.account(ev.Seeded.Login)
		if err != nil {
			return err
		}
		st.addDeals(a, ev.Seeded.Deals...)
	case evPositionOpened:
		a, err := st.account(ev.Opened.Login)
		if err != nil {
			return err
		}
		a.Positions = append(a.Positions, ev.Opened.Position)
		a.Balance = a.Balance.Add(ev.Opened.Deal.Commission)
		st.NextPosition = max(st.NextPosition, ev.Opened.Position.ID+1)
		st.addDeals(a, ev.Opened.Deal)
	case evPositionClosed:
		a, err := st.account(ev.Closed.Login)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(a.Positions, func(p positionRec) bool { return p.ID == ev.Closed.PositionID })
		if i < 0 {
			return fmt.Errorf("position %d of %s closed but not open", ev.Closed.PositionID, a.Login)
		}
		a.Positions = slices.Delete(a.Positions, i, i+1)
		d := ev.Closed.Deal
		a.Balance = a.Balance.Add(d.Profit).Add(d.Commission).Add(d.Swap)
		st.addDeals(a, d)
	case evPrices:
		for name, bid := range ev.Prices {
			if _, ok := symbolByName(name); !ok || bid <= 0 {
				return fmt.Errorf("price %d for symbol %q", bid, name)
			}
			st.Prices[name] = bid
		}
	case evDealAmended:
		a, i, err := st.tradeDeal(ev.Amended.Login, ev.Amended.Ticket)
		if err != nil {
			return err
		}
		a.Balance = a.Balance.Add(ev.Amended.Profit.Sub(a.Deals[i].Profit))
		a.Deals[i].Profit, a.Deals[i].Comment = ev.Amended.Profit, ev.Amended.Comment
	case evDealDeleted:
		a, i, err := st.tradeDeal(ev.Deleted.Login, ev.Deleted.Ticket)
		if err != nil {
			return err
		}
		d := a.Deals[i]
		a.Balance = a.Balance.Sub(d.Profit).Sub(d.Commission).Sub(d.Swap)
		a.Deals = slices.Delete(a.Deals, i, i+1)
	default:
		return fmt.Errorf("unknown event type %q", ev.Type)
	}
	st.Seq = ev.Seq
	return nil
}

// tradeDeal finds a buy or sell deal of login by its ticket.
func (st *state) tradeDeal(login string, ticket int64) (*accountState, int, error) {
	a, err := st.account(login)
	if err != nil {
		return nil, 0, err
	}
	i := slices.IndexFunc(a.Deals, func(d dealRec) bool { return d.Ticket == ticket })
	if i < 0 || (a.Deals[i].Action != trading.ActionBuy && a.Deals[i].Action != trading.ActionSell) {
		return nil, 0, fmt.Errorf("login %s has no trade deal %d", login, ticket)
	}
	return a, i, nil
}

// addDeals inserts deals in (Time, Ticket) order and moves the ticket sequence past them. Live deals are the newest
// and append; seeded history lands in the middle.
func (st *state) addDeals(a *accountState, deals ...dealRec) {
	for _, d := range deals {
		i, _ := slices.BinarySearchFunc(a.Deals, d, func(x, y dealRec) int {
			switch {
			case x.before(y):
				return -1
			case y.before(x):
				return 1
			}
			return 0
		})
		a.Deals = slices.Insert(a.Deals, i, d)
		st.NextTicket = max(st.NextTicket, d.Ticket+1)
	}
}

// load reads the snapshot (if any) and replays the journal after it. A torn last line, which a crash in the
// middle of a write leaves behind, is cut off; anything else that does not parse or apply stops Open, because
// guessing past a corrupt journal would silently lose money.
func load(dir string, fresh func() *state) (*state, error) {
	st := fresh()
	b, err := os.ReadFile(filepath.Join(dir, snapshotFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, st); err != nil {
			return nil, fmt.Errorf("read snapshot %s: %w", filepath.Join(dir, snapshotFile), err)
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, fmt.Errorf("read snapshot: %w", err)
	}

	path := filepath.Join(dir, journalFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var good int64 // bytes of whole, applied lines
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				// A last line without its newline was never acknowledged to anyone: drop it.
				if err := f.Truncate(good); err != nil {
					return nil, fmt.Errorf("cut torn last journal line: %w", err)
				}
			}
			return st, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read journal: %w", err)
		}
		ev, err := parseEvent(line)
		if err != nil {
			return nil, fmt.Errorf("journal %s line %d: %w", path, lineNo, err)
		}
		good += int64(len(line))
		if ev.Seq <= st.Seq {
			continue // already in the snapshot: a crash came between writing it and emptying the journal
		}
		if err := st.apply(ev); err != nil {
			return nil, fmt.Errorf("journal %s line %d: %w", path, lineNo, err)
		}
	}
}

// writeSnapshot writes the whole state atomically (temp file, fsync, rename, fsync the directory).
func writeSnapshot(dir string, st *state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	tmp := filepath.Join(dir, snapshotFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create snapshot: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close snapshot: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, snapshotFile)); err != nil {
		return fmt.Errorf("install snapshot: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open state dir to sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync state dir: %w", err)
	}
	return nil
}
