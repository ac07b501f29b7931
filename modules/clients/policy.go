package clients

import (
	"context"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// Action is something a client may or may not do; every path that does it asks May first.
type Action string

const (
	ActionDeposit          Action = "deposit"
	ActionWithdraw         Action = "withdraw"
	ActionOpenLiveAccount  Action = "open_live_account"
	ActionOpenDemoAccount  Action = "open_demo_account"
	ActionTrade            Action = "trade"
	ActionInternalTransfer Action = "internal_transfer"
)

// Actions lists every action the gate answers for.
var Actions = []Action{ActionDeposit, ActionWithdraw, ActionOpenLiveAccount, ActionOpenDemoAccount, ActionTrade, ActionInternalTransfer}

// Label is the action as a person reads it.
func (a Action) Label() string {
	switch a {
	case ActionDeposit:
		return "Deposit"
	case ActionWithdraw:
		return "Withdraw"
	case ActionOpenLiveAccount:
		return "Open a live account"
	case ActionOpenDemoAccount:
		return "Open a demo account"
	case ActionTrade:
		return "Trade"
	case ActionInternalTransfer:
		return "Internal transfer"
	}
	return string(a)
}

// Decision is the gate's answer. Reason is a sentence a support agent can read to the client; ForClient says the
// same to the client (the portal shows it).
type Decision struct {
	Action    Action
	Allowed   bool
	Reason    string
	ForClient string
}

// Rules are the tenant's settings the gate reads (see Settings).
type Rules struct {
	// AllowDepositsBeforeKYC lets clients with a verified email deposit while KYC is pending (not while more
	// information is requested or after a rejection).
	AllowDepositsBeforeKYC bool
	// DepositsBeforeKYCTiers does the same for clients of these tiers only.
	DepositsBeforeKYCTiers []string
	// DemoFromEmailVerified lets clients open demo accounts once their email is verified; otherwise demo accounts
	// wait for KYC approval like live ones.
	DemoFromEmailVerified bool
}

// Input is everything Decide looks at.
type Input struct {
	Action      Action
	Status      Status
	KYCApproved bool // KYC was approved at some point (restricted and reinstated clients keep it)
	Tier        string
	Rules       Rules
}

// Decide is THE policy gate: whether a client in in.Status may do in.Action under the tenant's rules. It is pure
// (no I/O), so its whole table is tested; May and MayTx load its input. Anything it does not know is refused.
func Decide(in Input) Decision {
	d := Decision{Action: in.Action}
	allow := func(agent, client string) Decision { d.Allowed, d.Reason, d.ForClient = true, agent, client; return d }
	deny := func(agent, client string) Decision { d.Reason, d.ForClient = agent, client; return d }
	if !slices.Contains(Actions, in.Action) {
		return deny("This is not an action the policy knows.", "This is not available: contact support.")
	}
	depositEarly := in.Rules.AllowDepositsBeforeKYC || (in.Tier != "" && slices.Contains(in.Rules.DepositsBeforeKYCTiers, in.Tier))
	switch in.Status {
	case StatusRegistered:
		return deny("The client has not verified their email address yet: they need to open the link we emailed them.",
			"Verify your email address first: open the link we emailed you.")
	case StatusEmailVerified, StatusKYCSubmitted:
		pending, yours := "The client's identity documents have not been submitted yet", "Your identity documents have not been submitted yet"
		if in.Status == StatusKYCSubmitted {
			pending, yours = "The client's identity documents are still being reviewed", "Your identity documents are still being reviewed"
		}
		switch in.Action {
		case ActionDeposit:
			if depositEarly {
				return allow("Deposits are allowed before KYC approval at this brokerage; withdrawals wait for the approval.",
					"You may deposit before your documents are approved; withdrawals wait for the approval.")
			}
			return deny(pending+": deposits open once KYC is approved.", yours+": deposits open once they are approved.")
		case ActionOpenDemoAccount:
			if in.Rules.DemoFromEmailVerified {
				return allow("Demo accounts are available once the email address is verified.",
					"Demo accounts are available now that your email address is verified.")
			}
			return deny(pending+": demo accounts open once KYC is approved.", yours+": demo accounts open once they are approved.")
		default:
			return deny(pending+": this is possible once KYC is approved.", yours+": this is possible once they are approved.")
		}
	case StatusKYCMoreInfo:
		if in.Action == ActionOpenDemoAccount && in.Rules.DemoFromEmailVerified {
			return allow("Demo accounts are available once the email address is verified.",
				"Demo accounts are available now that your email address is verified.")
		}
		return deny("Compliance asked the client for more information: money and live trading stay on hold until they provide it and it is approved.",
			"We asked you for more information: deposits, withdrawals and live trading wait until you provide it and it is approved.")
	case StatusKYCRejected:
		return deny("The client's KYC documents were rejected: nothing is possible until new documents are submitted and approved.",
			"Your documents were rejected: upload new documents to continue.")
	case StatusKYCApproved:
		return allow("The client's KYC is approved.", "Your account is verified.")
	case StatusRestricted:
		switch in.Action {
		case ActionWithdraw, ActionInternalTransfer:
			if in.KYCApproved {
				return allow("The account is restricted, but the client may still take money out.",
					"Your account is restricted, but you may still take money out.")
			}
			return deny("The account is restricted and the client's KYC was never approved: contact compliance.",
				"Your account is restricted: contact support.")
		default:
			return deny("The account is restricted by compliance: the client may withdraw, but cannot deposit, trade or open accounts.",
				"Your account is restricted: you may withdraw, but not deposit, trade or open accounts. Contact support for details.")
		}
	case StatusSuspended:
		return deny("The account is suspended by compliance: nothing is possible until it is reinstated.",
			"Your account is suspended: contact support.")
	case StatusClosed:
		return deny("The account is closed.", "Your account is closed.")
	}
	return deny("The client's status is unknown, so nothing is allowed.", "This is not available: contact support.")
}

// rulesTx reads the tenant's gate rules.
func rulesTx(ctx context.Context, tx pgx.Tx) (Rules, error) {
	st, err := settingsTx(ctx, tx)
	if err != nil {
		return Rules{}, err
	}
	return st.rules(), nil
}

// MayTx answers the gate for one client and action inside the caller's transaction (so a deposit or withdrawal
// decides on the same snapshot it then writes in).
func (s *Service) MayTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, a Action) (Decision, error) {
	c, err := s.GetTx(ctx, tx, id)
	if err != nil {
		return Decision{}, err
	}
	r, err := rulesTx(ctx, tx)
	if err != nil {
		return Decision{}, err
	}
	return Decide(inputOf(c, r, a)), nil
}

// MayEachTx is MayTx for several clients at once (a group of payment callbacks): one read of the clients and one
// of the rules, the same decision for each. A client that is not the tenant's has no decision in the map.
func (s *Service) MayEachTx(ctx context.Context, tx pgx.Tx, ids []uuid.UUID, a Action) (map[uuid.UUID]Decision, error) {
	rows, err := tx.Query(ctx, `SELECT `+clientColumns+clientFrom+` WHERE c.id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Client, error) { return scanClient(r) })
	if err != nil {
		return nil, err
	}
	r, err := rulesTx(ctx, tx)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]Decision, len(list))
	for _, c := range list {
		out[c.ID] = Decide(inputOf(c, r, a))
	}
	return out, nil
}

// May answers the gate for one client and action.
func (s *Service) May(ctx context.Context, t tenants.Tenant, id uuid.UUID, a Action) (Decision, error) {
	var d Decision
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		d, err = s.MayTx(ctx, tx, id, a)
		return err
	})
	return d, err
}

// PolicyTx answers every action for one client (the client page's "what can this client do").
func (s *Service) PolicyTx(ctx context.Context, tx pgx.Tx, c Client) ([]Decision, error) {
	r, err := rulesTx(ctx, tx)
	if err != nil {
		return nil, err
	}
	out := make([]Decision, len(Actions))
	for i, a := range Actions {
		out[i] = Decide(inputOf(c, r, a))
	}
	return out, nil
}

func inputOf(c Client, r Rules, a Action) Input {
	return Input{Action: a, Status: c.Status, KYCApproved: c.KYCApprovedAt != nil, Tier: c.Tier, Rules: r}
}

// Policy answers every action for one client.
func (s *Service) Policy(ctx context.Context, t tenants.Tenant, c Client) ([]Decision, error) {
	var out []Decision
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = s.PolicyTx(ctx, tx, c)
		return err
	})
	return out, err
}
