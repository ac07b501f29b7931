package kyc

import (
	"slices"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
)

// ReasonCode is why a document was rejected, from a fixed list; the client sees its plain words.
type ReasonCode string

// Reason is one rejection reason: what the client reads, and whether the client can cure it with a new document.
type Reason struct {
	Code  ReasonCode
	Label string // for the officer's select
	Text  string // what the client reads, in the email and on the portal
	// Curable: the client can fix it by uploading another document; the client is asked for one (kyc_more_info).
	// An incurable reason (suspected forgery) rejects the client's KYC (kyc_rejected).
	Curable bool
}

// Reasons is the fixed list of rejection reasons, in the order the review page offers them.
var Reasons = []Reason{
	{"document_expired", "Document expired", "The document has expired. Please upload a valid document that has not expired.", true},
	{"unreadable", "Unreadable or blurred", "We could not read the document. Please upload a clear, complete photo or scan in which every corner is visible.", true},
	{"incomplete", "Incomplete (page or side missing)", "Part of the document is missing. Please upload every page, or both sides of the card.", true},
	{"name_mismatch", "Name does not match", "The name on the document does not match the name on your account.", true},
	{"dob_mismatch", "Date of birth does not match", "The date of birth on the document does not match the one on your account.", true},
	{"wrong_document_type", "Wrong document type", "The file is not the kind of document requested. Please upload the right document.", true},
	{"address_too_old", "Proof of address older than 3 months", "The proof of address must be dated within the last 3 months. Please upload a more recent one.", true},
	{"address_mismatch", "Address does not match", "The address on the document does not match the address we have for you.", true},
	{"photo_mismatch", "Selfie does not match the ID photo", "The photo does not match the photo on your identity document. Please take a new selfie.", true},
	{"suspected_forgery", "Suspected forgery or tampering", "We cannot accept this document. Please contact our support team.", false},
}

// ReasonFor returns the reason with code.
func ReasonFor(code ReasonCode) (Reason, bool) {
	i := slices.IndexFunc(Reasons, func(r Reason) bool { return r.Code == code })
	if i < 0 {
		return Reason{}, false
	}
	return Reasons[i], true
}

// DocumentTypes lists the document types the review knows, in display order.
var DocumentTypes = documents.Types

// DocumentLabel is a document type as people read it.
func DocumentLabel(t documents.Type) string { return t.Label() }

// event is what happened to a client's KYC.
type event int

const (
	eventSubmitted         event = iota // a document was uploaded (a case opened)
	eventMoreInfo                       // an officer asked for more information
	eventRejectedCurable                // a document was rejected for a reason a new document can cure
	eventRejectedIncurable              // a document was rejected for a reason no new document cures
	eventAllApproved                    // every required document type has an approved document
)

// clientMove is THE rule of how the review moves a client (written down in docs/kyc.md):
//
//   - an upload moves a client who is email_verified (first submission), kyc_more_info or kyc_rejected to
//     kyc_submitted;
//   - "more information" and a curable rejection move a kyc_submitted client to kyc_more_info: the client is asked
//     for a new document;
//   - an incurable rejection (suspected forgery) moves a kyc_submitted or kyc_more_info client to kyc_rejected;
//   - when every required document type has an approved document, a kyc_submitted client moves to kyc_approved
//     (a kyc_more_info client owes a document first: its upload makes it kyc_submitted, and the approval of that
//     document approves the client; the lifecycle has no kyc_more_info -> kyc_approved).
//
// Any other status stays: a kyc_approved client whose extra document is rejected stays approved (compliance
// restricts a client on the client page), and restricted, suspended and closed clients are never moved by a
// review.
func clientMove(from clients.Status, ev event) (clients.Status, bool) {
	var allowed []clients.Status
	var to clients.Status
	switch ev {
	case eventSubmitted:
		allowed, to = []clients.Status{clients.StatusEmailVerified, clients.StatusKYCMoreInfo, clients.StatusKYCRejected}, clients.StatusKYCSubmitted
	case eventMoreInfo, eventRejectedCurable:
		allowed, to = []clients.Status{clients.StatusKYCSubmitted}, clients.StatusKYCMoreInfo
	case eventRejectedIncurable:
		allowed, to = []clients.Status{clients.StatusKYCSubmitted, clients.StatusKYCMoreInfo}, clients.StatusKYCRejected
	case eventAllApproved:
		allowed, to = []clients.Status{clients.StatusKYCSubmitted}, clients.StatusKYCApproved
	default:
		return from, false
	}
	if !slices.Contains(allowed, from) {
		return from, false
	}
	return to, true
}

// requirementsMet reports whether docs hold an approved document for every group of required: each group is a set
// of types of which one approved document is enough (e.g. passport or national id or driving licence).
func requirementsMet(required [][]documents.Type, docs []documents.Document) bool {
	if len(required) == 0 {
		return false // nothing configured never approves anyone by accident (settings refuse an empty list)
	}
	for _, group := range required {
		met := slices.ContainsFunc(docs, func(d documents.Document) bool {
			return d.Status == documents.StatusApproved && slices.Contains(group, d.Type)
		})
		if !met {
			return false
		}
	}
	return true
}

// overdue reports whether a case opened at opened has waited longer than the SLA at now.
func overdue(opened, now time.Time, sla time.Duration) bool { return now.Sub(opened) > sla }

// fourEyes reports whether an approval for a client from country needs a second officer.
func fourEyes(s Settings, country string) bool {
	return s.FourEyes && slices.Contains(s.HighRiskCountries, country)
}
