package smtpd

import "github.com/emersion/go-sasl"

// loginServer is the server side of the LOGIN SASL mechanism, which has no
// RFC (draft-murchison-sasl-login-00) and which go-sasl only implements as a
// client. Many hosting servers' mailers still offer nothing else. The server
// asks "Username:" then "Password:"; a client may send the username as the
// initial response of AUTH LOGIN, skipping the first challenge.
type loginServer struct {
	authenticate func(user, pass string) error
	step         int // 0: start, 1: username asked, 2: password asked, 3: done
	user         string
}

var (
	challengeUsername = []byte("Username:")
	challengePassword = []byte("Password:")
)

func newLoginServer(authenticate func(user, pass string) error) sasl.Server {
	return &loginServer{authenticate: authenticate}
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		if len(response) == 0 {
			l.step = 1
			return challengeUsername, false, nil
		}
		l.user, l.step = string(response), 2
		return challengePassword, false, nil
	case 1:
		l.user, l.step = string(response), 2
		return challengePassword, false, nil
	case 2:
		l.step = 3
		return nil, true, l.authenticate(l.user, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}
