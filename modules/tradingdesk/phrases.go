package tradingdesk

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
)

// How the desk reads in the audit trail (frontdoor.Door.Trail): a server and an account type are named by the
// names the brokerage gave them and linked to their pages.

// KindTrading is the kind of the desk's actions on the audit page's filter.
const KindTrading = "Trading"

// Phrases are the sentences of the desk's audited actions.
func Phrases() []audit.Phrase {
	say := func(action string, f func(e audit.Event) audit.Sentence) audit.Phrase {
		return audit.Phrase{Action: action, Kind: KindTrading, Say: f}
	}
	return []audit.Phrase{
		say(ActionServerSaved, func(e audit.Event) audit.Sentence {
			created := e.Changed("/platform") && e.Before("/platform") == ""
			verb := " changed the trading server "
			if created {
				verb = " added the trading server "
			}
			s := audit.Say(e.Actor, verb, e.Target)
			if e.After("/manager_login_replaced") == "true" {
				s = audit.Say(s, " and set its manager credentials")
			}
			if e.Changed("/enabled") && !created {
				if e.After("/enabled") == "false" {
					s = audit.Say(s, "; it is switched off")
				} else {
					s = audit.Say(s, "; it is switched on")
				}
			}
			return s
		}),
		say(ActionServerCheckRequested, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " asked for a connection check of the trading server ", e.Target)
		}),
		say(ActionServerStatusChanged, func(e audit.Event) audit.Sentence {
			switch e.After("/status") {
			case string(StatusDown):
				s := audit.Say("The trading server ", e.Target, " is down")
				if msg := e.After("/error"); msg != "" {
					s = audit.Say(s, ": ", strings.TrimSuffix(msg, "."))
				}
				return s
			case string(StatusOK):
				if e.Before("/status") == string(StatusDown) {
					return audit.Say("The trading server ", e.Target, " is reachable again")
				}
				return audit.Say("The trading server ", e.Target, " answered its first connection check")
			}
			return audit.Say("The trading server ", e.Target, " is ", e.After("/status"))
		}),
		say(ActionAccountTypeSaved, func(e audit.Event) audit.Sentence {
			created := e.Changed("/server") && e.Before("/server") == ""
			verb := " changed the account type "
			if created {
				verb = " added the account type "
			}
			s := audit.Say(e.Actor, verb, e.Target)
			if e.Changed("/enabled") && !created && e.After("/enabled") == "false" {
				s = audit.Say(s, "; clients can no longer open it")
			}
			return s
		}),
		say(ActionAccountRequested, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " asked to open a ", liveWord(e), " account (", accountDetails(e), ")")
		}),
		say(ActionAccountOpened, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " opened ", liveWord(e), " account ", e.After("/login"), " (", accountDetails(e), ")")
		}),
		say(ActionAccountRequestFailed, func(e audit.Event) audit.Sentence {
			return audit.Say("The ", liveWord(e), " account request of ", e.After("/client"), " (", accountDetails(e), ") failed: ",
				strings.TrimSuffix(e.After("/reason"), "."))
		}),
		say(ActionChangeRequested, func(e audit.Event) audit.Sentence {
			var s audit.Sentence
			if status, ok := strings.CutPrefix(e.After("/reason"), "the client's status is now "); ok && e.After("/kind") == string(KindSetAccess) {
				s = audit.Say(e.After("/client"), "'s status is now ", status, ": the trading desk asked for ", e.After("/summary"))
			} else {
				s = audit.Say(e.Actor, " asked for ", e.After("/summary"))
			}
			if e.After("/awaiting_approval") == "true" {
				s = audit.Say(s, "; it waits for approval")
			}
			return s
		}),
		say(ActionChangeApproved, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " approved ", e.After("/client"), "'s request for ", e.After("/summary"))
		}),
		say(ActionChangeRejected, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " rejected ", e.After("/client"), "'s request for ", e.After("/summary"), ": ",
				strings.TrimSuffix(e.After("/rejection"), "."))
		}),
		say(ActionChangeDone, func(e audit.Event) audit.Sentence {
			acc := "Account " + e.After("/login") + " of " + e.After("/client")
			switch RequestKind(e.After("/kind")) {
			case KindSetLeverage:
				s := audit.Say(acc, " has leverage 1:", e.After("/leverage"), " on the trading server (it was 1:", e.After("/was"), ")")
				if e.After("/group") != e.After("/group_was") {
					s = audit.Say(s, ", in group ", e.After("/group"))
				}
				return s
			case KindSetSwapFree:
				if e.After("/swap_free") == "true" {
					return audit.Say(acc, " is swap-free on the trading server (group ", e.After("/group"), ")")
				}
				return audit.Say(acc, " is no longer swap-free on the trading server (group ", e.After("/group"), ")")
			case KindSetAccess:
				s := audit.Say(acc, ": ", e.After("/access"), " on the trading server")
				if r := e.After("/reason"); r != "" {
					s = audit.Say(s, " (", r, ")")
				}
				return s
			case KindResetPassword:
				return audit.Say("A new ", e.After("/which"), " password of account ", e.After("/login"), " was set on the trading server and emailed to ",
					e.After("/client"))
			}
			return audit.Say(acc, " changed on the trading server")
		}),
		say(ActionChangeFailed, func(e audit.Event) audit.Sentence {
			return audit.Say("The request of ", e.After("/client"), " for ", e.After("/summary"), " failed: ", strings.TrimSuffix(e.After("/failure"), "."))
		}),
		say(ActionAccountAccessByHand, func(e audit.Event) audit.Sentence {
			if e.After("/enabled") == "true" {
				return audit.Say(e.Actor, " enabled account ", e.After("/login"), " again")
			}
			return audit.Say(e.Actor, " disabled account ", e.After("/login"), " by hand: ", strings.TrimSuffix(e.After("/reason"), "."))
		}),
		say(ActionDeskSettingsSaved, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " changed the trading desk's rules")
			if e.Changed("/swap_free_approval") {
				if e.After("/swap_free_approval") == "true" {
					s = audit.Say(s, "; swap-free now waits for approval")
				} else {
					s = audit.Say(s, "; swap-free no longer waits for approval")
				}
			}
			if e.Changed("/leverage_approval_above") {
				if v := e.After("/leverage_approval_above"); v != "0" && v != "" {
					s = audit.Say(s, "; leverage above 1:", v, " waits for approval")
				} else {
					s = audit.Say(s, "; no leverage change waits for approval")
				}
			}
			if e.Changed("/heal_settings") {
				if e.After("/heal_settings") == "true" {
					s = audit.Say(s, "; settings drift is now healed automatically")
				} else {
					s = audit.Say(s, "; settings drift is no longer healed automatically")
				}
			}
			return s
		}),
		say(ActionTransferRequested, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " asked to move ", transferWords(e, "their"))
		}),
		say(ActionTransferDone, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " moved ", transferWords(e, "their"))
		}),
		say(ActionTransferFailed, func(e audit.Event) audit.Sentence {
			return audit.Say("The transfer of ", transferWords(e, e.After("/client")+"'s"), " failed: ", strings.TrimSuffix(e.After("/reason"), "."),
				"; no money moved")
		}),
		say(ActionTransferUnknown, func(e audit.Event) audit.Sentence {
			return audit.Say("The trading server never answered about the transfer of ", transferWords(e, e.After("/client")+"'s"), " (",
				strings.TrimSuffix(e.After("/reason"), "."), "): it waits for finance to ask again")
		}),
		say(ActionTransferRetried, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " asked the trading server again about the transfer of ", transferWords(e, e.After("/client")+"'s"))
		}),
		say(ActionCreditRequested, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " asked for ", creditWords(e, "/amount"))
		}),
		say(ActionCreditDone, func(e audit.Event) audit.Sentence {
			s := audit.Say("The trading server booked ", creditWords(e, "/moved"))
			if e.After("/moved") != e.After("/amount") && !strings.HasSuffix(e.After("/comment"), "; nothing was credited") {
				s = audit.Say(s, " (", e.After("/amount"), " ", e.After("/currency"), " asked; the account had no more credit)")
			}
			return s
		}),
		say(ActionCreditFailed, func(e audit.Event) audit.Sentence {
			return audit.Say("The trading server did not book ", creditWords(e, "/amount"), ": ", strings.TrimSuffix(e.After("/reason"), "."))
		}),
		say(ActionCreditUnknown, func(e audit.Event) audit.Sentence {
			return audit.Say("The trading server never answered about ", creditWords(e, "/amount"), " (", strings.TrimSuffix(e.After("/reason"), "."),
				"): finance must check the account on the platform")
		}),
		say(ActionCreditRetried, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " asked the trading server again about ", creditWords(e, "/amount"))
		}),
		say(ActionDriftFound, func(e audit.Event) audit.Sentence {
			if k := DriftKind(e.After("/kind")); k.Money() {
				return audit.Say("The ", moneyOps[k], " of account ", e.After("/login"), " on ", e.After("/server"), " add up to ",
					e.After("/platform"), " on the platform and ", e.After("/crm"), " in the CRM: for finance")
			}
			return audit.Say(driftAccountWords(e), " has ", e.After("/label"), " ", e.After("/platform"), " on the platform; the CRM has ", e.After("/crm"))
		}),
		say(ActionDriftHealed, func(e audit.Event) audit.Sentence {
			return audit.Say("BrokerDesk set account ", e.After("/login"), "'s ", e.After("/label"), " back to ", e.After("/crm"), " on ",
				e.After("/server"), ": the platform had ", e.After("/platform"))
		}),
		say(ActionDriftHealFailed, func(e audit.Event) audit.Sentence {
			return audit.Say("BrokerDesk could not set account ", e.After("/login"), "'s ", e.After("/label"), " back to ", e.After("/crm"), " on ",
				e.After("/server"), " (the platform has ", e.After("/platform"), "): ", strings.TrimPrefix(e.After("/healing"),
					"BrokerDesk could not set it back to "+e.After("/crm")+": "))
		}),
		say(ActionDriftGone, func(e audit.Event) audit.Sentence {
			if k := DriftKind(e.After("/kind")); k.Money() {
				return audit.Say("The ", moneyOps[k], " of account ", e.After("/login"), " on ", e.After("/server"), " agree with the CRM again")
			}
			return audit.Say(driftAccountWords(e), " agrees with the CRM again: ", e.After("/label"), " ", e.After("/crm"))
		}),
		say(ActionDriftResolved, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " resolved the ", e.After("/label"), " drift of account ", e.After("/login"), " on ", e.After("/server"), " (",
				e.After("/platform"), " on the platform, ", e.After("/crm"), " in the CRM): ", strings.TrimSuffix(e.After("/note"), "."))
		}),
		say(ActionDriftCheckRequested, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " asked for a drift check of the trading server ", e.Target)
		}),
	}
}

// transferWords is "250.00 USD from their wallet to account 700000" (whose: the wallet's owner as the sentence
// names them).
func transferWords(e audit.Event, whose string) string {
	amt, acc, wallet := e.After("/amount")+" "+e.After("/currency"), "account "+e.After("/login"), whose+" wallet"
	if e.After("/direction") == string(ToWallet) {
		return amt + " from " + acc + " to " + wallet
	}
	return amt + " from " + wallet + " to " + acc
}

// creditWords is "a credit_in of 200.00 USD on Ann Trader's account 700000 (Bonus 2nd deposit)", the amount read
// at field.
func creditWords(e audit.Event, field string) string {
	w := "a " + e.After("/kind") + " of " + e.After(field) + " " + e.After("/currency") + " on " + e.After("/client") + "'s account " + e.After("/login")
	if c := e.After("/comment"); c != "" {
		w += " (" + c + ")"
	}
	return w
}

// driftAccountWords names a drift event's account: "Account 700000 on MT5 Live".
func driftAccountWords(e audit.Event) string {
	return "Account " + e.After("/login") + " on " + e.After("/server")
}

// liveWord is "live" or "demo" for an account event.
func liveWord(e audit.Event) string {
	if e.After("/live") == "true" {
		return "live"
	}
	return "demo"
}

// accountDetails is "Standard, USD, 1:100".
func accountDetails(e audit.Event) string {
	return e.After("/type") + ", " + e.After("/currency") + ", 1:" + e.After("/leverage")
}

// trail declares how the desk's rows read on the audit service it holds.
func (s *Service) trail() {
	s.o.Audit.Phrases(Phrases()...)
	s.o.Audit.Names(serverTarget, nameBy(`SELECT id::text, name, slug FROM trading_servers WHERE id = ANY($1)`, serversPath))
	s.o.Audit.Names(accountTypeTarget, nameBy(`SELECT id::text, name, slug FROM account_types WHERE id = ANY($1)`, accountTypesPath))
}

// nameBy names records by the name the brokerage gave them, linked to their page under base.
func nameBy(query, base string) audit.NameFunc {
	return func(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
		rows, err := tx.Query(ctx, query, audit.UUIDs(ids))
		if err != nil {
			return nil, fmt.Errorf("trading desk names: %w", err)
		}
		out := map[string]audit.Ref{}
		var id, name, slug string
		_, err = pgx.ForEachRow(rows, []any{&id, &name, &slug}, func() error {
			out[id] = audit.Ref{Name: name, Href: base + "/" + slug}
			return nil
		})
		return out, err
	}
}

// moneyOps name the operations a money drift adds up.
var moneyOps = map[DriftKind]string{DriftBalance: "balance operations", DriftCredit: "credit operations"}
