package clients

import "strings"

// disposableDomains are well-known throwaway-mailbox providers. A brokerage must be able to reach its clients for
// years (statements, KYC renewals, margin calls), so registration refuses these; a tenant adds its own through the
// extra_disposable_domains setting. A subdomain of a listed domain is refused too.
var disposableDomains = map[string]bool{
	"0-mail.com": true, "10minutemail.com": true, "10minutemail.net": true, "20minutemail.com": true,
	"33mail.com": true, "anonbox.net": true, "burnermail.io": true, "byom.de": true, "discard.email": true,
	"disposableemailaddresses.com": true, "dispostable.com": true, "dropmail.me": true, "emailondeck.com": true,
	"fakeinbox.com": true, "fakemail.net": true, "getairmail.com": true, "getnada.com": true, "guerrillamail.biz": true,
	"guerrillamail.com": true, "guerrillamail.de": true, "guerrillamail.info": true, "guerrillamail.net": true,
	"guerrillamail.org": true, "guerrillamailblock.com": true, "harakirimail.com": true, "inboxbear.com": true,
	"incognitomail.org": true, "jetable.org": true, "mailcatch.com": true, "maildrop.cc": true, "mailinator.com": true,
	"mailinator.net": true, "mailinator2.com": true, "mailnesia.com": true, "mailsac.com": true, "mintemail.com": true,
	"mohmal.com": true, "moakt.com": true, "mytemp.email": true, "mytrashmail.com": true, "nada.email": true,
	"sharklasers.com": true, "spam4.me": true, "spambog.com": true, "spamgourmet.com": true, "spamex.com": true,
	"tempail.com": true, "tempmail.com": true, "tempmail.net": true, "tempmail.plus": true, "tempmailo.com": true,
	"temp-mail.org": true, "temp-mail.io": true, "tempinbox.com": true, "tempr.email": true, "throwawaymail.com": true,
	"trashmail.com": true, "trashmail.de": true, "trashmail.net": true, "trash-mail.com": true, "wegwerfmail.de": true,
	"yopmail.com": true, "yopmail.fr": true, "yopmail.net": true, "emailfake.com": true, "fakemailgenerator.com": true,
	"mailpoof.com": true, "mailtemp.info": true, "minuteinbox.com": true, "tmail.ws": true, "tmpmail.org": true,
	"tmpmail.net": true, "grr.la": true, "pokemail.net": true, "spamdecoy.net": true, "crazymailing.com": true,
}

// disposable reports whether domain (lower case) or a domain it belongs to is a throwaway provider, built-in or
// in extra.
func disposable(domain string, extra []string) bool {
	for d := domain; d != ""; {
		if disposableDomains[d] {
			return true
		}
		for _, e := range extra {
			if e == d {
				return true
			}
		}
		_, rest, ok := strings.Cut(d, ".")
		if !ok || !strings.Contains(rest, ".") {
			return false
		}
		d = rest
	}
	return false
}
