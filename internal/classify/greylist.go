package classify

import "regexp"

// greylistText matches what greylisting software says when it defers a new
// (client IP, sender, recipient) triplet:
//   - postgrey: "Greylisted, see http://postgrey.schweikert.ch/help/…",
//     "Greylisted for 300 seconds"
//   - milter-greylist, Plesk: "Greylisting in action, please come back in …"
//   - Exim/greylistd, sqlgrey, rspamd's greylist module, mailcow,
//     Exchange: texts that say greylist/graylist/greylisted/greylisting
//   - Mimecast: "451 Internal resource temporarily unavailable", which its
//     documentation gives as its greylisting reply.
//
// A bare "Try again later" or "temporary local problem" is not enough: those
// are generic deferrals, and Gmail, which says them, does not greylist.
//
// The built-in rule "greylisting" in rules/40-generic-ip.toml carries the
// same patterns; the table test checks that both agree on every line of
// testdata.
func greylistText() *regexp.Regexp {
	return regexp.MustCompile(`(?i)gr[ae]y-?list|internal resources? (is |are )?temporarily unavailable`)
}

// Greylisting reports whether reply is a greylisting deferral: a 4xx whose
// text is one of greylisting software's. Such a deferral clears only when the
// same client IP comes back, so the next attempt must keep the source IP.
func Greylisting(reply string) bool {
	r := newReply(reply)
	return r.code >= 400 && r.code < 500 && greylistText().MatchString(r.text)
}
