package main

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal/session"
)

// The baseline of the page scenarios: a bare fiber handler that does only
// what every page must — look the session up (the portal's own session
// store, the same cookie) — and renders a fixed 50-row worklist with
// html/template. Nothing else: no user, grants, casbin, query or locale.
var bareTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} - 泰州市新市民网上办事大厅</title><link rel="stylesheet" href="/static/app.css"></head>
<body>
<header class="site-header"><div class="wrap header-row"><a class="brand" href="/">泰州市新市民网上办事大厅</a>
<nav class="site-nav"><ul><li><a href="/cases">待办</a></li><li><a href="/account">账户</a></li>
<li><form method="post" action="/logout" class="inline-form"><input type="hidden" name="_csrf" value="{{.CSRF}}"><button type="submit" class="link-button">退出</button></form></li></ul></nav></div></header>
<main id="main" class="wrap">
<h1>{{.Title}}</h1>
<div class="table-wrap"><table class="cases"><thead><tr><th scope="col">办件编号</th><th scope="col">事项</th><th scope="col">申请人</th><th scope="col">受理地</th><th scope="col">状态</th><th scope="col">期限</th><th scope="col">申请日期</th></tr></thead>
<tbody>
{{range .Rows}}<tr>
<td data-label="办件编号"><a href="/cases/{{.No}}">{{.No}}</a></td>
<td data-label="事项">{{.Service}}</td>
<td data-label="申请人">{{.Applicant}}</td>
<td data-label="受理地">{{.Division}}</td>
<td data-label="状态"><span class="tag tag-{{.State}}">{{.StateLabel}}</span></td>
<td data-label="期限">{{if .Overdue}}<span class="overdue">已超期</span>{{else}}剩余 {{.Remaining}} 个工作日{{end}}</td>
<td data-label="申请日期">{{.Created}}</td>
</tr>
{{end}}</tbody></table></div>
<p><a class="button secondary" href="/cases?after={{.Next}}">下一页</a></p>
</main>
<footer class="site-footer"><div class="wrap"><p>泰州市人民政府</p></div></footer>
</body></html>
`))

type bareRow struct {
	No, Service, Applicant, Division, State, StateLabel, Created string
	Remaining                                                    int
	Overdue                                                      bool
}

type barePage struct {
	Title, CSRF string
	Rows        []bareRow
	Next        int64
}

func fixedPage() *barePage {
	p := &barePage{Title: "待办事项", CSRF: "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG", Next: 123456}
	states := [][2]string{{"submitted", "待受理"}, {"reviewing", "审核中"}, {"correction", "待补正"}, {"draft", "草稿"}}
	for i := 0; i < 50; i++ {
		st := states[i%len(states)]
		p.Rows = append(p.Rows, bareRow{No: fmt.Sprintf("TZRP20261127%06d", 100+i), Service: "居住证办理", Applicant: "王建国",
			Division: "海陵区 城东街道", State: st[0], StateLabel: st[1], Created: "2026-11-27", Remaining: i % 15, Overdue: i%7 == 0})
	}
	return p
}

// startBare starts the bare app on 127.0.0.1:0 and returns its URL.
func (e *env) startBare(sessions session.Store) (string, error) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	page := fixedPage()
	pool := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	app.Get("/", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := sessions.Get(ctx, c.Cookies("tz_session")); err != nil {
			return c.Status(fiber.StatusUnauthorized).SendString("no session")
		}
		buf := pool.Get().(*bytes.Buffer)
		buf.Reset()
		defer pool.Put(buf)
		if err := bareTemplate.Execute(buf, page); err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		c.Response().SetBody(buf.Bytes())
		return nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go app.Listener(ln)
	e.defer_(func() { app.ShutdownWithTimeout(5 * time.Second) })
	return "http://" + ln.Addr().String() + "/", nil
}
