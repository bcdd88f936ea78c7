package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/app"
)

// TestServiceCreateIsTheRoutesCreate checks that the task service's Create
// (the ingest function's way in) behaves as POST /v1/tasks: the same
// validation, the same idempotency (shared with the route's
// Idempotency-Key), the tenant's own task.
func TestServiceCreateIsTheRoutesCreate(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	tasks := s.API.Tasks()
	due := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	body := []byte(fmt.Sprintf(`{"due_at":%q,"target":{"kind":"webhook","url":%q}}`, due, s.Sink.URL+"/hook"))

	c, err := tasks.Create(ctx, zerolog.Nop(), "acme", app.CreateTask{Body: body, Token: "evt-1"})
	require.NoError(t, err)
	assert.True(t, c.New)
	assert.Equal(t, "SCHEDULED", string(c.Task.State))
	id := c.Task.ID.String()

	again, err := tasks.Create(ctx, zerolog.Nop(), "acme", app.CreateTask{Body: body, Token: "evt-1"})
	require.NoError(t, err)
	assert.False(t, again.New, "a replayed token returns the task")
	assert.Equal(t, id, again.Task.ID.String())

	// The route sees the same task under the same key and body.
	r := call(t, s, http.MethodPost, "/v1/tasks", "acme", body, "Idempotency-Key", "evt-1")
	assert.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, id, r.body["id"])
	assert.Equal(t, http.StatusNotFound, call(t, s, http.MethodGet, "/v1/tasks/"+id, "globex", nil).code)

	other := []byte(fmt.Sprintf(`{"due_at":%q,"target":{"kind":"webhook","url":%q}}`, due, s.Sink.URL+"/other"))
	_, err = tasks.Create(ctx, zerolog.Nop(), "acme", app.CreateTask{Body: other, Token: "evt-1"})
	assert.ErrorIs(t, err, app.ErrIdempotencyMismatch)

	_, err = tasks.Create(ctx, zerolog.Nop(), "acme", app.CreateTask{Body: []byte(`{"target":{"kind":"webhook","url":"ftp://x"}}`), Token: "evt-2"})
	var inv *app.Invalid
	require.True(t, errors.As(err, &inv), "got %v", err)
	var fields []string
	for _, fe := range inv.Fields {
		fields = append(fields, fe.Field)
	}
	assert.Contains(t, fields, "due_at")
	assert.Contains(t, fields, "target.url")

	_, err = tasks.Create(ctx, zerolog.Nop(), "", app.CreateTask{Body: body, Token: "evt-3"})
	require.True(t, errors.As(err, &inv), "got %v", err)
	assert.Equal(t, "tenant", inv.Fields[0].Field)
}
