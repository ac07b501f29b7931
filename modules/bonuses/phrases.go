package bonuses

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
)

// Audited actions of the module.
const (
	ActionRuleSaved = "bonus.rule_saved"
	ActionGranted   = "bonus.granted"
	ActionReleased  = "bonus.released"
	ActionExpired   = "bonus.expired"
	ActionCancelled = "bonus.cancelled"
	ActionForfeited = "bonus.forfeited"
)

// Targets: a rule, or the client a bonus belongs to (so the sentence names the client).
const (
	ruleTarget   = "bonus_rule"
	clientTarget = "client"
)

// KindBonuses is the kind of the module's actions on the audit page's filter.
const KindBonuses = "Bonuses"

// Phrases are the sentences of the module's audited actions.
func Phrases() []audit.Phrase {
	say := func(action string, f func(e audit.Event) audit.Sentence) audit.Phrase {
		return audit.Phrase{Action: action, Kind: KindBonuses, Say: f}
	}
	return []audit.Phrase{
		say(ActionRuleSaved, func(e audit.Event) audit.Sentence {
			if e.After("/version") == "1" {
				return audit.Say(e.Actor, " made the bonus rule ", e.Target, " in ", e.After("/currency"))
			}
			return audit.Say(e.Actor, " changed the bonus rule ", e.Target, " (version ", e.After("/version"), ")")
		}),
		say(ActionGranted, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " granted ", e.Target, " a bonus of ", e.After("/amount"), " under the rule ", e.After("/rule"),
				" (version ", e.After("/version"), "): ", e.After("/says"))
		}),
		say(ActionReleased, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " released ", e.Target, "'s bonus of ", e.After("/amount"), " (", e.After("/rule"),
				") to the wallet: ", e.After("/lots_done"), " of ", e.After("/lots_required"), " lots traded")
		}),
		say(ActionExpired, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " removed ", e.Target, "'s bonus of ", e.After("/amount"), " (", e.After("/rule"),
				"): it expired with ", e.After("/lots_done"), " of ", e.After("/lots_required"), " lots traded")
		}),
		say(ActionCredited, func(e audit.Event) audit.Sentence {
			return audit.Say("The trading server credited ", e.Target, "'s bonus of ", e.After("/amount"), " on account ", e.After("/login"))
		}),
		say(ActionCreditRefused, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " cancelled ", e.Target, "'s bonus of ", e.After("/amount"), " (", e.After("/rule"), "): ", e.After("/reason"))
		}),
		say(ActionWrittenOff, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " wrote off ", e.Target, "'s bonus of ", e.After("/amount"), " (", e.After("/rule"), "): ", e.After("/reason"),
				", with ", e.After("/lots_done"), " of ", e.After("/lots_required"), " lots traded")
		}),
		say(ActionCancelled, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " cancelled ", e.Target, "'s bonus of ", e.After("/amount"), " (", e.After("/rule"), "): ", e.After("/reason"))
		}),
		say(ActionForfeited, func(e audit.Event) audit.Sentence {
			if e.After("/status") == closeForfeit.status {
				return audit.Say(e.Actor, " forfeited ", e.Target, "'s bonus of ", e.After("/amount"), " (", e.After("/rule"), ") in full: ",
					e.After("/reason"))
			}
			return audit.Say(e.Actor, " forfeited ", e.After("/forfeited"), " of ", e.Target, "'s bonus of ", e.After("/amount"), " (", e.After("/rule"),
				"): ", e.After("/reason"), "; ", e.After("/left"), " stays open, released after ", e.After("/lots_required"), " lots")
		}),
	}
}

// trail declares how the module's rows read on the audit service it holds.
func (s *Service) trail() {
	s.o.Audit.Phrases(Phrases()...)
	s.o.Audit.Names(ruleTarget, func(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
		rows, err := tx.Query(ctx, `SELECT id::text, name FROM bonus_rules WHERE id = ANY($1)`, audit.UUIDs(ids))
		if err != nil {
			return nil, err
		}
		out := map[string]audit.Ref{}
		var id, name string
		_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error {
			out[id] = audit.Ref{Name: name}
			return nil
		})
		return out, err
	})
}
