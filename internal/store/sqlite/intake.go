package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"sendpool/internal/queue"
)

// encodeIntake is a message's intake record as its column holds it: JSON,
// a few hundred bytes, written with the message by Put; nil is NULL.
func encodeIntake(in *queue.Intake) (any, error) {
	if in == nil {
		return nil, nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	return string(b), nil
}

// decodeIntake reads the intake column; NULL (DSNs, messages stored before
// migration 7) is nil.
func decodeIntake(s sql.NullString) (*queue.Intake, error) {
	if !s.Valid {
		return nil, nil
	}
	in := &queue.Intake{}
	if err := json.Unmarshal([]byte(s.String), in); err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	return in, nil
}
