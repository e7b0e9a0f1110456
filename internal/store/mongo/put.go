package mongo

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"sendpool/internal/queue"
)

// Put stores m: body chunks (if the body is large), then one delivery per
// recipient, then the message document, which commits it. A Put that dies
// half way leaves deliveries with no message; Lease never hands them out
// and removes them later. Every write is filtered on _id alone, or is an
// insert: FerretDB looks other filters up by scanning the collection. It
// returns once the server acknowledged the message document (the URI's
// write concern; w=majority with j=true is the durable choice on a replica
// set).
//
// Puts made at once on this node share their writes (a group commit,
// commit.go): one insert of all their deliveries, then one of all their
// messages, so a node taking mail from many sessions sends two commands a
// round rather than two a message.
func (s *Store) Put(ctx context.Context, m *queue.Message) error {
	p, err := s.pending(ctx, m)
	if err != nil {
		return err
	}
	if err := s.commit(ctx, p); err != nil {
		return err
	}
	if p.msg.Chunks == 0 {
		s.bodies.Add(m.ID, p.msg.Body) // for OpenBody: delivery reads no document back
	}
	return nil
}

// pending is what Put writes of m.
func (s *Store) pending(ctx context.Context, m *queue.Message) (*pendingPut, error) {
	now := s.now()
	status, domains, err := queue.Prepare(m, now)
	if err != nil {
		return nil, fmt.Errorf("mongodb: %w", err)
	}
	body, spooled := m.Body, 0
	if m.Spooled != nil {
		if spooled, body, err = s.putSpooled(ctx, m); err != nil {
			return nil, fmt.Errorf("mongodb: put %s: %w", m.ID, err)
		}
	}
	doc := messageDoc{
		ID: m.ID, Account: m.Account, From: m.From, Size: m.BodySize(),
		Created: ms(m.Created), Expires: ms(m.Expires), Bounce: m.Bounce,
		Rcpts: len(m.Recipients), Status: status, Intake: newIntakeDoc(m.Intake),
		TLSOptional: m.TLSOptional,
	}
	dels := make([]deliveryDoc, len(m.Recipients))
	for i, r := range m.Recipients {
		dels[i] = deliveryDoc{
			ID: m.ID + "/" + strconv.Itoa(i), MessageID: m.ID, Idx: i, Recipient: r,
			Domain: domains[i], Status: status, Next: ms(now), Tried: []string{},
			Put: ms(now), From: doc.From, Account: doc.Account, Created: doc.Created,
			Expires: doc.Expires, Bounce: doc.Bounce, Size: doc.Size, Rcpts: doc.Rcpts,
			TLSOptional: doc.TLSOptional, HeaderID: headerID(m.Intake),
		}
	}
	var chunks []any
	if len(body) <= s.chunkSize {
		doc.Body = body
		if doc.Body == nil {
			doc.Body = []byte{}
		}
	} else {
		for n, off := 0, 0; off < len(body); n, off = n+1, off+s.chunkSize {
			end := min(off+s.chunkSize, len(body))
			chunks = append(chunks, chunkDoc{ID: m.ID + "#" + strconv.Itoa(n), MessageID: m.ID, N: n,
				Data: body[off:end]})
		}
		doc.Chunks = len(chunks)
	}
	if spooled > 0 {
		doc.Chunks, doc.Body = spooled, nil
	}
	return &pendingPut{ctx: ctx, msg: doc, dels: dels, chunks: chunks, done: make(chan error, 1)}, nil
}

// Body returns a message's body; queue.ErrNotFound also once every
// recipient has it and the body was dropped.
func (s *Store) Body(ctx context.Context, messageID string) ([]byte, error) {
	var doc messageDoc
	err := s.messages.FindOne(ctx, bson.M{"_id": messageID},
		options.FindOne().SetProjection(bson.M{"body": 1, "chunks": 1, "dropped": 1, "size": 1})).Decode(&doc)
	if err != nil {
		return nil, notFound(err, queue.ErrNotFound)
	}
	if doc.Dropped {
		return nil, queue.ErrNotFound
	}
	if doc.Chunks == 0 {
		if doc.Body == nil {
			doc.Body = []byte{}
		}
		return doc.Body, nil
	}
	cur, err := s.chunks.Find(ctx, bson.M{"m": messageID}, options.Find().SetSort(bson.D{{Key: "n", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongodb: body %s: %w", messageID, err)
	}
	var chunks []chunkDoc
	if err := cur.All(ctx, &chunks); err != nil {
		return nil, fmt.Errorf("mongodb: body %s: %w", messageID, err)
	}
	body := make([]byte, 0, doc.Size)
	for i, c := range chunks {
		if c.N != i {
			return nil, fmt.Errorf("mongodb: body %s: chunk %d missing", messageID, i)
		}
		body = append(body, c.Data...)
	}
	if len(chunks) != doc.Chunks || int64(len(body)) != doc.Size {
		// Dropped between the two reads, or damaged.
		return nil, fmt.Errorf("mongodb: body %s: %d of %d chunks, %d of %d bytes: %w",
			messageID, len(chunks), doc.Chunks, len(body), doc.Size, queue.ErrNotFound)
	}
	return body, nil
}

// isDup reports whether err is (only) a duplicate key error.
func isDup(err error) bool { return mongo.IsDuplicateKeyError(err) }

// putSpooled writes a spooled body larger than a chunk as chunk documents,
// one read and inserted at a time, before the group commit: like every
// chunk they are no message until the message document is (Put). A
// smaller one is read into memory and goes in the message document.
func (s *Store) putSpooled(ctx context.Context, m *queue.Message) (chunks int, small []byte, err error) {
	r := m.Spooled.NewReader()
	if m.Spooled.Size() <= int64(s.chunkSize) {
		small, err = io.ReadAll(r)
		return 0, small, err
	}
	buf := make([]byte, s.chunkSize)
	for n := 0; ; n++ {
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			c := chunkDoc{ID: m.ID + "#" + strconv.Itoa(n), MessageID: m.ID, N: n, Data: buf[:k]}
			if _, err := s.chunks.InsertOne(ctx, c); err != nil {
				return 0, nil, fmt.Errorf("chunk %d: %w", n, err)
			}
			chunks = n + 1
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return chunks, nil, nil
		}
		if err != nil {
			return 0, nil, fmt.Errorf("reading the spooled body: %w", err)
		}
	}
}

// OpenBody returns a message's body for delivery: from memory if this node
// put it lately (Options.BodyCache); whole when it is in the message
// document; otherwise a reader of its chunk documents, one read at a time
// (issue 13). What memory keeps is the body stored: a delivery is leased
// only while its message is stored and not final, and this node forgets
// a body when it finishes or deletes the message (one another node
// finished stays until pushed out, unread).
func (s *Store) OpenBody(ctx context.Context, messageID string) (queue.StoredBody, error) {
	if b, ok := s.bodies.Get(messageID); ok {
		return queue.StoredBody{Bytes: b, Size: int64(len(b))}, nil
	}
	var doc messageDoc
	err := s.messages.FindOne(ctx, bson.M{"_id": messageID},
		options.FindOne().SetProjection(bson.M{"body": 1, "chunks": 1, "dropped": 1, "size": 1})).Decode(&doc)
	if err != nil {
		return queue.StoredBody{}, notFound(err, queue.ErrNotFound)
	}
	if doc.Dropped {
		return queue.StoredBody{}, queue.ErrNotFound
	}
	if doc.Chunks == 0 {
		if doc.Body == nil {
			doc.Body = []byte{}
		}
		return queue.StoredBody{Bytes: doc.Body, Size: int64(len(doc.Body))}, nil
	}
	return queue.StoredBody{Size: doc.Size, Open: func() (io.ReadCloser, error) {
		// One find a chunk, by _id (FerretDB scans for other filters).
		return &queue.ChunkReader{N: doc.Chunks, Fetch: func(n int) ([]byte, error) {
			var c chunkDoc
			err := s.chunks.FindOne(ctx, bson.M{"_id": messageID + "#" + strconv.Itoa(n)}).Decode(&c)
			if err != nil {
				return nil, fmt.Errorf("mongodb: body %s chunk %d: %w", messageID, n, notFound(err, queue.ErrNotFound))
			}
			return c.Data, nil
		}}, nil
	}}, nil
}

// headerID is the Message-ID field an intake record names, if any.
func headerID(in *queue.Intake) string {
	if in == nil {
		return ""
	}
	return in.HeaderMessageID
}
