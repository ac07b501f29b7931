package partners

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
)

// KindPartners is the kind of the module's actions on the audit page's filter.
const KindPartners = "Partners"

// Phrases are the sentences of the module's audited actions.
func Phrases() []audit.Phrase {
	say := func(action string, f func(e audit.Event) audit.Sentence) audit.Phrase {
		return audit.Phrase{Action: action, Kind: KindPartners, Say: f}
	}
	orNone := func(name string) string {
		if name == "" {
			return "no partner"
		}
		return name
	}
	return append([]audit.Phrase{
		say(ActionCreated, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " made ", e.Target, " a partner")
			if p := e.After("/parent"); p != "" {
				s = audit.Say(s, " under ", p)
			}
			if p := e.After("/plan"); p != "" {
				s = audit.Say(s, " on the plan ", p)
			}
			if c := e.After("/code"); c != "" {
				s = audit.Say(s, ", with the code ", c)
			}
			return s
		}),
		say(ActionApplied, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " applied to become a partner")
		}),
		say(ActionApproved, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " approved the partner ", e.Target)
			if p := e.After("/plan"); p != "" {
				s = audit.Say(s, " on the plan ", p)
			}
			return s
		}),
		say(ActionRejected, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " rejected the partner application of ", e.Target, ": ", e.After("/note"))
		}),
		say(ActionCodeAdded, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " gave ", e.Target, " the referral code ", e.After("/code"))
			if c := e.After("/campaign"); c != "" {
				s = audit.Say(s, " (campaign ", c, ")")
			}
			return s
		}),
		say(ActionMoved, func(e audit.Event) audit.Sentence {
			to := e.After("/to")
			if to == "" {
				to = "the top of the tree"
			}
			return audit.Say(e.Actor, " moved the partner ", e.Target, " under ", to, " from ", e.After("/effective"), ": ", e.After("/reason"))
		}),
		say(ActionPlanSet, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " put the partner ", e.Target, " on the plan ", e.After("/plan"))
		}),
		say(ActionClientAttributed, func(e audit.Event) audit.Sentence {
			if e.After("/source") == "registration" {
				if e.After("/to") == "" {
					return audit.Say(e.Target, " registered with the code ", e.After("/code"), ", which no partner holds")
				}
				return audit.Say(e.Target, " registered with the code ", e.After("/code"), " and is attributed to ", e.After("/to"))
			}
			return audit.Say(e.Actor, " attributed ", e.Target, " to ", orNone(e.After("/to")), " from ", e.After("/effective"),
				": ", e.After("/reason"))
		}),
		say(ActionPlanSaved, func(e audit.Event) audit.Sentence {
			if e.After("/version") == "1" {
				return audit.Say(e.Actor, " made the commission plan ", e.Target, " in ", e.After("/currency"))
			}
			return audit.Say(e.Actor, " changed the commission plan ", e.Target, " (version ", e.After("/version"), ")")
		}),
		say(ActionSettingsChanged, func(e audit.Event) audit.Sentence {
			if d := e.After("/referred_client_display"); d != "" {
				return audit.Say(e.Actor, " let partners see the clients they referred by ", ClientDisplay(d).Describe(),
					" (before: ", ClientDisplay(e.Before("/referred_client_display")).Describe(), ")")
			}
			return audit.Say(e.Actor, " changed the symbol suffixes commission plans ignore")
		}),
	}, moneyPhrases(say)...)
}

// trail declares how the module's rows read on the audit service it holds.
func (s *Service) trail() {
	s.o.Audit.Phrases(Phrases()...)
	s.o.Audit.Names(partnerTarget, nameBy(`SELECT id::text, name FROM partners WHERE id = ANY($1)`))
	s.o.Audit.Names(planTarget, nameBy(`SELECT id::text, name FROM partner_plans WHERE id = ANY($1)`))
}

func nameBy(query string) audit.NameFunc {
	return func(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
		rows, err := tx.Query(ctx, query, audit.UUIDs(ids))
		if err != nil {
			return nil, fmt.Errorf("partners names: %w", err)
		}
		out := map[string]audit.Ref{}
		var id, name string
		_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error {
			out[id] = audit.Ref{Name: name}
			return nil
		})
		return out, err
	}
}
