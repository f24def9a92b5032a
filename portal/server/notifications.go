package server

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
)

// noticeDoc is a notification as the API shows it.
type noticeDoc struct {
	portal.Notification
	Read bool `json:"read"`
}

func noticeDocs(ns []portal.Notification) []noticeDoc {
	out := make([]noticeDoc, 0, len(ns))
	for _, n := range ns {
		out = append(out, noticeDoc{Notification: n, Read: n.ReadAt != nil})
	}
	return out
}

func (s *Server) inbox(c *fiber.Ctx) ([]portal.Notification, int, int64, error) {
	before, _ := strconv.ParseInt(c.Query("before"), 10, 64)
	const pageSize = 50
	ns, unread, err := s.Store.Inbox(ctx(c), currentUser(c).ID, before, pageSize)
	var next int64
	if len(ns) == pageSize {
		next = ns[len(ns)-1].ID
	}
	return ns, unread, next, err
}

func (s *Server) apiNotifications(c *fiber.Ctx) error {
	ns, unread, next, err := s.inbox(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": noticeDocs(ns), "unread": unread, "next": cursor(next)})
}

func (s *Server) markRead(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return portal.NotFound(err)
	}
	return s.Store.Tx(ctx(c), func(tx portal.Tx) error { return tx.MarkRead(ctx(c), currentUser(c).ID, id, s.Now()) })
}

func (s *Server) apiMarkRead(c *fiber.Ctx) error {
	if err := s.markRead(c); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// inboxData is the inbox page.
type inboxData struct {
	Items  []noticeDoc
	Unread int
	Next   *string
}

func (s *Server) inboxPage(c *fiber.Ctx) error {
	ns, unread, next, err := s.inbox(c)
	if err != nil {
		return err
	}
	return s.render(c, "inbox", s.newPage(c, "inbox.title", &inboxData{Items: noticeDocs(ns), Unread: unread, Next: cursor(next)}))
}

// readNotice marks a notice read and opens its case (the inbox's links are
// small forms: reading changes state, so it is a POST).
func (s *Server) readNotice(c *fiber.Ctx) error {
	if err := s.markRead(c); err != nil {
		return err
	}
	return redirect(c, localPath(c.FormValue("next"), "/inbox"))
}
