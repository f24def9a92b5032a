package testkit

import (
	"errors"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// FaultProxy is a TCP proxy on 127.0.0.1 in front of one target address
// (PostgreSQL, Redis, or the portal itself), whose behaviour a test switches
// at run time to play a dependency that is down, hung or losing answers:
//
//   - Pass forwards everything (the start mode);
//   - Refuse resets every open connection and every new one at once;
//   - Hang keeps connections open and accepts new ones but forwards nothing,
//     like a frozen server: bytes already sent are held, and delivered if
//     the proxy passes again;
//   - DropResponses(n) forwards requests but closes the connection instead of
//     forwarding each of the next n responses (chunks read from the target).
//
// A client that closes its end closes the pair at once, whatever the mode, so
// no goroutine or target connection outlives the client that needed it. It
// is safe for concurrent use; the test's cleanup closes it.
type FaultProxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu      sync.Mutex
	mode    proxyMode
	resume  chan struct{} // closed when the proxy stops hanging
	skip    int           // responses to forward before dropping
	drop    int           // responses to drop after that
	dropped int
	conns   map[*proxyConn]struct{}
	peak    int
	closed  bool
}

type proxyMode int

const (
	modePass proxyMode = iota
	modeRefuse
	modeHang
)

// NewFaultProxy starts a proxy to target (host:port) in Pass mode, on a free
// port of 127.0.0.1; it is closed when the test ends.
func NewFaultProxy(tb testing.TB, target string) *FaultProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("NewFaultProxy(%s): %v", target, err)
	}
	p := &FaultProxy{target: target, ln: ln, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(func() { p.Close() })
	return p
}

// Addr is the proxy's host:port.
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

// URL returns rawURL (a postgres://, redis:// or http:// URL) with its
// host:port replaced by the proxy's.
func (p *FaultProxy) URL(rawURL string) string { return ViaProxy(rawURL, p.Addr()) }

// ViaProxy returns rawURL with its host:port replaced by addr; the rest
// (user, database, search_path, …) is kept.
func ViaProxy(rawURL, addr string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic("testkit.ViaProxy: " + err.Error())
	}
	u.Host = addr
	return u.String()
}

// HostPort returns the host:port of a URL, the target a FaultProxy needs;
// a URL without a port gets the scheme's usual one.
func HostPort(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic("testkit.HostPort: " + err.Error())
	}
	if u.Port() != "" {
		return u.Host
	}
	port := map[string]string{"postgres": "5432", "postgresql": "5432", "redis": "6379", "http": "80"}[u.Scheme]
	return net.JoinHostPort(u.Hostname(), port)
}

// Pass forwards everything again; held bytes are delivered.
func (p *FaultProxy) Pass() { p.setMode(modePass, 0, 0) }

// Hang stops forwarding in both directions and holds new connections
// without connecting them to the target, like a server that froze.
func (p *FaultProxy) Hang() { p.setMode(modeHang, 0, 0) }

// Refuse resets every open connection and, until the mode changes, every new
// one as soon as it is accepted: a server that is down.
func (p *FaultProxy) Refuse() {
	p.setMode(modeRefuse, 0, 0)
	p.mu.Lock()
	open := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	for _, c := range open {
		c.close(true)
	}
}

// DropResponses forwards requests but, for each of the next n responses
// from the target, closes that connection instead of forwarding it. The
// proxy passes normally afterwards.
func (p *FaultProxy) DropResponses(n int) { p.setMode(modePass, 0, n) }

// DropResponsesAfter forwards the next skip responses, then drops n as
// DropResponses does: a test sweeps skip to lose a connection at every
// step of a request.
func (p *FaultProxy) DropResponsesAfter(skip, n int) { p.setMode(modePass, skip, n) }

// Dropped is how many responses the proxy has dropped so far.
func (p *FaultProxy) Dropped() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// Open is the number of client connections open now.
func (p *FaultProxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Peak is the most client connections that were open at once since the
// start or the last ResetPeak: how far a client's pool grew.
func (p *FaultProxy) Peak() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// ResetPeak starts a new Peak measurement from the connections open now.
func (p *FaultProxy) ResetPeak() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.peak = len(p.conns)
}

// UpstreamPorts are the local ports of the proxy's open connections to the
// target: how the target (e.g. pg_stat_activity.client_port) tells the
// connections that came through this proxy from everybody else's.
func (p *FaultProxy) UpstreamPorts() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for c := range p.conns {
		if up := c.target(); up != nil {
			if a, ok := up.LocalAddr().(*net.TCPAddr); ok {
				out = append(out, a.Port)
			}
		}
	}
	return out
}

// Close stops the proxy, closes every connection and waits for its goroutines.
func (p *FaultProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.mode == modeHang {
		close(p.resume)
	}
	open := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range open {
		c.close(false)
	}
	p.wg.Wait()
	return err
}

func (p *FaultProxy) setMode(m proxyMode, skip, drop int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	switch {
	case m == modeHang && p.mode != modeHang:
		p.resume = make(chan struct{})
	case m != modeHang && p.mode == modeHang:
		close(p.resume)
	}
	p.mode, p.skip, p.drop = m, skip, drop
}

// gate waits while the proxy hangs; it reports whether the connection may
// go on (false once it is closed, refused, or the proxy is closed).
func (p *FaultProxy) gate(done <-chan struct{}) bool {
	p.mu.Lock()
	for p.mode == modeHang && !p.closed {
		resume := p.resume
		p.mu.Unlock()
		select {
		case <-resume:
		case <-done:
			return false
		}
		p.mu.Lock()
	}
	ok := p.mode == modePass && !p.closed
	p.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return ok
	}
}

// dropNext reports whether the response just read must be dropped.
func (p *FaultProxy) dropNext() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.drop == 0:
		return false
	case p.skip > 0:
		p.skip--
		return false
	}
	p.drop--
	p.dropped++
	return true
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c := &proxyConn{p: p, client: conn, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed || p.mode == modeRefuse {
			p.mu.Unlock()
			reset(conn)
			continue
		}
		p.conns[c] = struct{}{}
		p.peak = max(p.peak, len(p.conns))
		p.wg.Add(1)
		p.mu.Unlock()
		go c.serve()
	}
}

// proxyConn is one client connection and, once the proxy passes, its
// connection to the target.
type proxyConn struct {
	p      *FaultProxy
	client net.Conn
	done   chan struct{}
	once   sync.Once

	mu       sync.Mutex
	upstream net.Conn
}

func (c *proxyConn) target() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.upstream
}

func (c *proxyConn) close(rst bool) {
	c.once.Do(func() {
		close(c.done)
		if rst {
			reset(c.client)
		} else {
			c.client.Close()
		}
		c.mu.Lock()
		if c.upstream != nil {
			c.upstream.Close()
		}
		c.mu.Unlock()
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	})
}

// serve runs the connection: a reader and a writer per direction, so that
// reading goes on (and a client's close is seen) while forwarding waits.
func (c *proxyConn) serve() {
	defer c.p.wg.Done()
	toTarget := make(chan []byte, 64)
	toClient := make(chan []byte, 64)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		// The client went away: nobody is left to answer, close the pair now.
		c.pump(c.client, toTarget, false)
		c.close(false)
	}()
	if !c.p.gate(c.done) {
		c.close(true)
		return
	}
	up, err := net.DialTimeout("tcp", c.p.target, 2*time.Second)
	if err != nil {
		c.close(true)
		return
	}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		up.Close()
		return
	default:
		c.upstream = up
		c.mu.Unlock()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		// The target closed: deliver what it sent first (toClient ends with nil).
		c.pump(up, toClient, true)
	}()
	go func() {
		defer wg.Done()
		c.forward(toClient, c.client)
	}()
	c.forward(toTarget, up)
}

// pump reads src into q until src fails; responses may be dropped. The
// target's end is marked with a nil chunk, so its last words are forwarded
// before the pair closes.
func (c *proxyConn) pump(src net.Conn, q chan<- []byte, fromTarget bool) {
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			if fromTarget && c.p.dropNext() {
				c.close(false)
				return
			}
			select {
			case q <- buf[:n]:
			case <-c.done:
				return
			}
		}
		if err != nil {
			if fromTarget {
				select {
				case q <- nil:
				case <-c.done:
				}
			}
			return
		}
	}
}

// forward writes the chunks of q to dst while the proxy passes.
func (c *proxyConn) forward(q <-chan []byte, dst net.Conn) {
	for {
		var chunk []byte
		select {
		case chunk = <-q:
		case <-c.done:
			return
		}
		if !c.p.gate(c.done) {
			c.close(true)
			return
		}
		if chunk == nil {
			c.close(false)
			return
		}
		if _, err := dst.Write(chunk); err != nil {
			c.close(false)
			return
		}
	}
}

// reset closes conn with an RST rather than a FIN, as a server that is down
// or a dropped connection would look to the client.
func reset(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// NewClientThrough returns a client of p whose requests go through px, a
// FaultProxy in front of the portal itself (NewFaultProxy(tb, HostPort(p.URL))):
// a network that loses the portal's answers.
func (p *Portal) NewClientThrough(tb testing.TB, px *FaultProxy) *Client {
	c := p.NewClient(tb)
	c.base = px.URL(c.base)
	return c
}
