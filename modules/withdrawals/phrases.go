package withdrawals

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
)

// KindWithdrawals is the kind of the module's actions on the audit page's filter.
const KindWithdrawals = "Withdrawals"

// Phrases are the sentences of the module's audited actions.
func Phrases() []audit.Phrase {
	say := func(action string, f func(e audit.Event) audit.Sentence) audit.Phrase {
		return audit.Phrase{Action: action, Kind: KindWithdrawals, Say: f}
	}
	return []audit.Phrase{
		say(ActionRequested, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " asked to withdraw ", amountWords(e), " (", e.Target, "); the amount is held in their wallet")
			if e.After("/flagged") == "true" {
				s = audit.Say(s, "; a check sent it to compliance")
			}
			if e.After("/blocked") == "true" {
				s = audit.Say(s, "; a check blocks its approval")
			}
			return s
		}),
		say(ActionCancelled, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " cancelled their withdrawal of ", amountWords(e), "; the hold is released")
		}),
		say(ActionComplianceCleared, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " cleared ", e.Target, " for finance: ", reasonWords(e))
		}),
		say(ActionComplianceRefused, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " refused ", e.Target, " for compliance: ", reasonWords(e), "; the hold is released")
		}),
		say(ActionApproved, func(e audit.Event) audit.Sentence {
			if e.After("/final") == "false" {
				return audit.Say(e.Actor, " gave the first of two approvals to ", e.Target, ": ", reasonWords(e), "; a different approver must give the second")
			}
			if e.After("/approval") == "2" {
				return audit.Say(e.Actor, " gave the second approval to ", e.Target, ": ", reasonWords(e), "; the payout starts")
			}
			return audit.Say(e.Actor, " approved ", e.Target, ": ", reasonWords(e), "; the payout starts")
		}),
		say(ActionRejected, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " refused ", e.Target, ": ", reasonWords(e), "; the hold is released")
		}),
		say(ActionLegPaid, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " refunded ", amountWords(e), " of ", e.Target, " to the client's card (refund ", e.After("/reference"), ")")
		}),
		say(ActionPaid, func(e audit.Event) audit.Sentence {
			if ref := e.After("/reference"); ref != "" {
				return audit.Say(e.Actor, " marked ", e.Target, " paid by bank, reference ", ref, "; the hold is posted")
			}
			return audit.Say(e.Actor, " paid ", e.Target, " in full; the hold is posted")
		}),
		say(ActionFailed, func(e audit.Event) audit.Sentence {
			s := audit.Say("The payout of ", e.Target, " failed: ", reasonWords(e))
			if e.Row.Actor.Kind == audit.ActorStaff {
				s = audit.Say(e.Actor, " recorded that the payout of ", e.Target, " failed: ", reasonWords(e))
			}
			if p := e.After("/paid"); p != "" {
				return audit.Say(s, "; ", p, " ", e.After("/currency"), " was paid and the rest released")
			}
			return audit.Say(s, "; the hold is released")
		}),
		say(ActionPayoutUnknown, func(e audit.Event) audit.Sentence {
			return audit.Say("The payout of ", e.Target, " never got an answer: ", reasonWords(e), "; the hold is kept for finance to check the processor")
		}),
		say(ActionExpired, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Target, " expired: nobody decided it in time; the hold is released")
		}),
		say(ActionSettingsChanged, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " changed the withdrawal rules (limits, four-eyes threshold, expiry, methods)")
		}),
	}
}

func reasonWords(e audit.Event) string { return strings.TrimSuffix(e.After("/reason"), ".") }

func amountWords(e audit.Event) string { return e.After("/amount") + " " + e.After("/currency") }

// trail declares how the module's rows read on the audit service it holds: a withdrawal is named by its amount and
// client, linked to its page, and is about its client.
func (s *Service) trail() {
	s.o.Audit.Phrases(Phrases()...)
	s.o.Audit.Names(target, func(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
		rows, err := tx.Query(ctx, `SELECT w.id::text, w.amount, w.currency, w.exponent, c.first_name || ' ' || c.last_name
			FROM withdrawals w JOIN clients c ON c.id = w.client_id WHERE w.id = ANY($1)`, audit.UUIDs(ids))
		if err != nil {
			return nil, fmt.Errorf("withdrawal names: %w", err)
		}
		out := map[string]audit.Ref{}
		var id, cur, name string
		var amount int64
		var exp int16
		_, err = pgx.ForEachRow(rows, []any{&id, &amount, &cur, &exp, &name}, func() error {
			out[id] = audit.Ref{Name: "the withdrawal of " + formatMinor(amount, cur, int(exp)) + " by " + name, Href: QueuePath + "/" + id}
			return nil
		})
		return out, err
	})
	s.o.Audit.Relate("client", audit.RelatedBy(target, `SELECT id FROM withdrawals WHERE client_id = $1`))
}

// formatMinor is an amount of minor units as "250.00 USD".
func formatMinor(minor int64, code string, exp int) string {
	return money.Amount{Minor: minor, Currency: money.Currency{Code: code, Exponent: exp}}.String()
}
