package payments

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
)

// How money in reads in the audit trail (frontdoor.Door.Trail): a deposit is named by its amount ("deposit of
// 500.00 USD") and linked to its page, a case by its kind, a gateway by its name; a client's deposits and cases
// belong on the client's timeline.

// KindMoney is the kind of the module's actions on the audit page's filter.
const KindMoney = "Money in"

// Phrases are the sentences of the module's audited actions.
func Phrases() []audit.Phrase {
	money := func(action string, f func(e audit.Event) audit.Sentence) audit.Phrase {
		return audit.Phrase{Action: action, Kind: KindMoney, Say: f}
	}
	return []audit.Phrase{
		money(ActionDepositStarted, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " started a ", e.Target, " through ", gatewayWord(e.After("/gateway")))
		}),
		money(ActionDepositCompleted, func(e audit.Event) audit.Sentence {
			s := audit.Say("The ", e.Target, e.Whose(), " was credited to the wallet")
			if n := e.After("/deposit_number"); n != "" && n != "1" {
				s = audit.Say(s, " (deposit number ", n, ")")
			} else if n == "1" {
				s = audit.Say(s, " (the first deposit)")
			}
			if e.Actor.Name != "" && e.Row.Actor.Kind != audit.ActorSystem {
				s = audit.Say(s, " by ", e.Actor)
			}
			return s
		}),
		money(ActionDepositFailed, func(e audit.Event) audit.Sentence {
			s := audit.Say("The ", e.Target, e.Whose(), " failed")
			if f := e.After("/failure"); f != "" {
				s = audit.Say(s, ": ", strings.TrimSuffix(f, "."))
			}
			return s
		}),
		money(ActionDepositRecorded, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " recorded a bank ", e.Target, e.Whose())
			if ref := e.After("/bank_reference"); ref != "" {
				s = audit.Say(s, " (bank reference ", ref, ")")
			}
			if e.After("/needs_second_approval") == "true" {
				s = audit.Say(s, "; a second approver must confirm it (four-eyes)")
			}
			return s
		}),
		money(ActionDepositApproved, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " approved the ", e.Target, e.Whose(), " as second approver")
		}),
		money(ActionDepositRejected, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " rejected the ", e.Target, e.Whose())
			if r := e.After("/reason"); r != "" {
				s = audit.Say(s, ": ", strings.TrimSuffix(r, "."))
			}
			return s
		}),
		money(ActionExceptionOpened, func(e audit.Event) audit.Sentence {
			s := audit.Say("A payment exception opened: ", e.Target, e.Whose())
			if amount := e.After("/amount"); amount != "" {
				s = audit.Say(s, " for ", amount, " ", e.After("/currency"))
			}
			if e.After("/assignee_id") == "" {
				s = audit.Say(s, ", not yet assigned (no active finance staff)")
			}
			return s
		}),
		money(ActionExceptionResolved, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " resolved the ", e.Target, e.Whose(), ": ", resolutionPhrase(Resolution(e.After("/resolution"))))
			if n := e.After("/note"); n != "" {
				s = audit.Say(s, " (", strings.TrimSuffix(n, "."), ")")
			}
			return s
		}),
		{Action: ActionGatewaySaved, Kind: "Settings", Say: func(e audit.Event) audit.Sentence {
			verb := " changed the payment gateway "
			if e.Changed("/kind") && e.Before("/kind") == "" {
				verb = " added the payment gateway "
			}
			s := audit.Say(e.Actor, verb, e.Target)
			if e.After("/keys_rotated") == "true" {
				s = audit.Say(s, " and rotated its keys")
			}
			if e.Changed("/enabled") && e.After("/enabled") == "false" {
				s = audit.Say(s, "; it no longer takes payments")
			}
			return s
		}},
		{Action: ActionSettingsChanged, Kind: "Settings", Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " changed the money-in settings")
		}},
	}
}

// gatewayWord is a gateway slug as a sentence says it.
func gatewayWord(slug string) string {
	if slug == "" {
		return "a payment method"
	}
	return slug
}

// resolutionPhrase is how a case was closed, as a sentence ends.
func resolutionPhrase(r Resolution) string {
	switch r {
	case ResolvedMatched:
		return "credited to the client from suspense"
	case ResolvedRefunded:
		return "refunded to the payer"
	case ResolvedWrittenOff:
		return "written off"
	case ResolvedDismissed:
		return "dismissed"
	}
	return string(r)
}

// trail declares how the module's rows read on the audit service it holds.
func (s *Service) trail() {
	s.o.Audit.Phrases(Phrases()...)
	s.o.Audit.Names("deposit", NameDeposits)
	s.o.Audit.Names("payment_exception", NameCases)
	s.o.Audit.Names("payment_gateway", NameGateways)
	s.o.Audit.Relate("client", relateMoney)
}

func uuids(ids []string) []uuid.UUID {
	var out []uuid.UUID
	for _, id := range ids {
		if u, err := uuid.Parse(id); err == nil {
			out = append(out, u)
		}
	}
	return out
}

// owners names the clients behind records, for Ref.Owner.
func owners(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[string]audit.Ref, error) {
	var list []string
	for _, id := range ids {
		if id != uuid.Nil {
			list = append(list, id.String())
		}
	}
	if len(list) == 0 {
		return map[string]audit.Ref{}, nil
	}
	return clients.NameClients(ctx, tx, list)
}

// NameDeposits names deposits by their amount ("deposit of 500.00 USD"), linked to the deposit's page, owned by
// their client.
func NameDeposits(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
	rows, err := tx.Query(ctx, `SELECT id, client_id, amount, currency, exponent FROM deposits WHERE id = ANY($1)`, uuids(ids))
	if err != nil {
		return nil, fmt.Errorf("deposit names: %w", err)
	}
	type dep struct {
		id, client uuid.UUID
		amount     money.Amount
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dep, error) {
		var d dep
		return d, r.Scan(&d.id, &d.client, &d.amount.Minor, &d.amount.Currency.Code, &d.amount.Currency.Exponent)
	})
	if err != nil {
		return nil, err
	}
	cs := make([]uuid.UUID, len(found))
	for i, d := range found {
		cs[i] = d.client
	}
	who, err := owners(ctx, tx, cs)
	if err != nil {
		return nil, err
	}
	out := map[string]audit.Ref{}
	for _, d := range found {
		r := audit.Ref{Name: "deposit of " + d.amount.String(), Href: depositsPath + "/" + d.id.String()}
		if o, ok := who[d.client.String()]; ok {
			r.Owner = &o
		}
		out[d.id.String()] = r
	}
	return out, nil
}

// NameCases names exception cases by their kind ("amount differs case"), linked to the case's page, owned by their
// client when they have one.
func NameCases(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
	rows, err := tx.Query(ctx, `SELECT id, kind, coalesce(client_id, '00000000-0000-0000-0000-000000000000') FROM payment_exceptions
		WHERE id = ANY($1)`, uuids(ids))
	if err != nil {
		return nil, fmt.Errorf("case names: %w", err)
	}
	type kase struct {
		id, client uuid.UUID
		kind       string
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kase, error) {
		var k kase
		return k, r.Scan(&k.id, &k.kind, &k.client)
	})
	if err != nil {
		return nil, err
	}
	cs := make([]uuid.UUID, len(found))
	for i, k := range found {
		cs[i] = k.client
	}
	who, err := owners(ctx, tx, cs)
	if err != nil {
		return nil, err
	}
	out := map[string]audit.Ref{}
	for _, k := range found {
		l := CaseKind(k.kind).Label()
		r := audit.Ref{Name: strings.ToLower(l[:1]) + l[1:] + " case", Href: exceptionsPath + "/" + k.id.String()}
		if o, ok := who[k.client.String()]; ok {
			r.Owner = &o
		}
		out[k.id.String()] = r
	}
	return out, nil
}

// NameGateways names gateways by the name the tenant gave them, linked to the payment settings.
func NameGateways(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
	rows, err := tx.Query(ctx, `SELECT id, name FROM payment_gateways WHERE id = ANY($1)`, uuids(ids))
	if err != nil {
		return nil, fmt.Errorf("gateway names: %w", err)
	}
	out := map[string]audit.Ref{}
	for rows.Next() {
		var id uuid.UUID
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return nil, err
		}
		out[id.String()] = audit.Ref{Name: name, Href: settingsPath}
	}
	return out, rows.Err()
}

// relateMoney lists a client's deposits and cases, whose rows belong on the client's timeline.
func relateMoney(ctx context.Context, tx pgx.Tx, clientID string) ([]audit.Target, error) {
	id, err := uuid.Parse(clientID)
	if err != nil {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT 'deposit', id FROM deposits WHERE client_id = $1
		UNION ALL SELECT 'payment_exception', id FROM payment_exceptions WHERE client_id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("client's deposits: %w", err)
	}
	var out []audit.Target
	for rows.Next() {
		var kind string
		var rid uuid.UUID
		if err := rows.Scan(&kind, &rid); err != nil {
			rows.Close()
			return nil, err
		}
		if kind == "deposit" {
			out = append(out, depositTarget(rid))
		} else {
			out = append(out, caseTarget(rid))
		}
	}
	return out, rows.Err()
}
