// vdisk-vcsim: the vSphere simulator the vdisk tests talk to.
//
// It starts govmomi's simulator (simulator.ESX(), or simulator.VPX() with
// -vpx) with TLS on 127.0.0.1 and serves it through a front handler in the
// same process, which can misbehave on request for the tests:
//
//	-norange        /folder answers every GET with 200 and the whole file
//	-drop N         /folder GETs close the connection after N body bytes
//	-hostile FILE   the answer to any SOAP call named by -method is FILE
//	-method NAME    (with -hostile; default RetrievePropertiesEx)
//	-idle SECONDS   sessions expire after SECONDS idle (re-login tests)
//	-user U         the only user name accepted (password from $VCSIM_PASSWORD)
//	-calls FILE     append one line per request: the SOAP method, or GET PATH
//	-info FILE      write KEY=VALUE lines: URL, DATASTORE, DIR, DC, THUMBPRINT
//	-cert FILE      write the server certificate (PEM)
//
// The simulator's VMs come with empty placeholder disk files in a temporary
// datastore folder (under $TMPDIR); the tests replace them with real VMDKs.
// It runs until SIGTERM/SIGINT or until stdin closes with -stdin.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"crypto/sha256"
	"crypto/tls"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"sync"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

// A writer that stops the connection after limit bytes of body.
type dropWriter struct {
	http.ResponseWriter
	left int64
}

func (d *dropWriter) Write(p []byte) (int, error) {
	if d.left <= 0 {
		panic(http.ErrAbortHandler)
	}
	if int64(len(p)) > d.left {
		n, _ := d.ResponseWriter.Write(p[:d.left])
		d.left = 0
		if f, ok := d.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		_ = n
		panic(http.ErrAbortHandler)
	}
	n, err := d.ResponseWriter.Write(p)
	d.left -= int64(n)
	return n, err
}

// An ECDSA P-256 certificate for 127.0.0.1, ::1 and localhost, valid for
// a day, that is its own CA (so it serves as a CA file too).
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vdisk-vcsim"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func main() {
	vpx := flag.Bool("vpx", false, "simulate vCenter (VPX) rather than ESX")
	vms := flag.Int("vm", 2, "virtual machines per host")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	noRange := flag.Bool("norange", false, "/folder ignores Range")
	drop := flag.Int64("drop", 0, "/folder GETs drop the connection after N bytes")
	hostile := flag.String("hostile", "", "file whose content answers -method")
	hostileMethod := flag.String("method", "RetrievePropertiesEx", "SOAP method answered by -hostile")
	idle := flag.Int("idle", 0, "session idle timeout in seconds (0: never)")
	user := flag.String("user", "", "the only user accepted (password from $VCSIM_PASSWORD)")
	info := flag.String("info", "", "write KEY=VALUE lines to this file")
	certOut := flag.String("cert", "", "write the server certificate (PEM) here")
	useStdin := flag.Bool("stdin", false, "exit when stdin closes")
	calls := flag.String("calls", "", "log SOAP methods and /folder GETs here")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("vdisk-vcsim: -listen must be a loopback address, not %q", *listen)
	}

	var hostileBody []byte
	if *hostile != "" {
		if hostileBody, err = ioutil.ReadFile(*hostile); err != nil {
			log.Fatal(err)
		}
	}
	if *idle > 0 {
		simulator.SessionIdleTimeout = time.Duration(*idle) * time.Second
	}

	model := simulator.ESX()
	if *vpx {
		model = simulator.VPX()
	}
	model.Machine = *vms
	model.Autostart = true
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	defer model.Remove()

	// A certificate of our own: the simulator's built-in one is RSA-1024,
	// which OpenSSL's default security level rejects.
	cert, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	model.Service.Listen = &url.URL{Host: "127.0.0.1:0"}
	if *user != "" {
		model.Service.Listen.User = url.UserPassword(*user, os.Getenv("VCSIM_PASSWORD"))
	}
	sim := model.Service.NewServer()
	defer sim.Close()
	inner := sim.Config.Handler

	var callLog *os.File
	var callMu sync.Mutex
	if *calls != "" {
		if callLog, err = os.OpenFile(*calls, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	methodRe := regexp.MustCompile(`<(?:[A-Za-z0-9_]+:)?Body[^>]*>\s*<(?:[A-Za-z0-9_]+:)?([A-Za-z0-9_]+)`)
	logCall := func(line string) {
		if callLog == nil {
			return
		}
		callMu.Lock()
		fmt.Fprintln(callLog, line)
		callMu.Unlock()
	}

	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/folder/") {
			logCall(r.Method + " " + strings.TrimPrefix(r.URL.Path, "/folder/"))
		}
		if callLog != nil && r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/sdk") {
			body, _ := ioutil.ReadAll(io.LimitReader(r.Body, 1<<24))
			if m := methodRe.FindSubmatch(body); m != nil {
				logCall(string(m[1]))
			}
			r.Body = ioutil.NopCloser(bytes.NewReader(body))
		}
		if strings.HasPrefix(r.URL.Path, "/folder/") && r.Method == http.MethodGet {
			if *noRange {
				r.Header.Del("Range")
			}
			if *drop > 0 {
				w = &dropWriter{ResponseWriter: w, left: *drop}
			}
		}
		if hostileBody != nil && r.Method == http.MethodPost &&
			strings.HasPrefix(r.URL.Path, "/sdk") {
			body, _ := ioutil.ReadAll(io.LimitReader(r.Body, 1<<24))
			if bytes.Contains(body, []byte("<"+*hostileMethod)) ||
				bytes.Contains(body, []byte(":"+*hostileMethod)) {
				w.Header().Set("Content-Type", "text/xml; charset=utf-8")
				_, _ = w.Write(hostileBody)
				return
			}
			r.Body = ioutil.NopCloser(bytes.NewReader(body))
		}
		inner.ServeHTTP(w, r)
	})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	tlsConf := &tls.Config{Certificates: sim.TLS.Certificates}
	srv := &http.Server{Handler: front, ErrorLog: log.New(ioutil.Discard, "", 0)}
	go func() { _ = srv.Serve(tls.NewListener(ln, tlsConf)) }()

	u := url.URL{Scheme: "https", Host: ln.Addr().String(), Path: "/sdk"}
	der := sim.TLS.Certificates[0].Certificate[0]
	sum := sha256.Sum256(der)
	var tp []string
	for _, b := range sum {
		tp = append(tp, fmt.Sprintf("%02X", b))
	}

	// Where the datastore lives on this machine, and its datacenter.
	var lines []string
	lines = append(lines, "URL="+u.String(), "THUMBPRINT="+strings.Join(tp, ":"))
	for _, e := range simulator.Map.All("Datacenter") {
		lines = append(lines, "DC="+e.Entity().Name)
	}
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		lines = append(lines, "DATASTORE="+ds.Name, "DIR="+ds.Info.GetDatastoreInfo().Url)
	}
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		lines = append(lines, "VM="+vm.Name+" "+vm.Self.Value+" "+vm.Config.Files.VmPathName)
	}
	if *certOut != "" {
		var b bytes.Buffer
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		if err := ioutil.WriteFile(*certOut, b.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if *info != "" {
		tmp := *info + ".tmp"
		if err := ioutil.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(tmp, *info); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(u.String())

	done := make(chan os.Signal, 1)
	signal.Notify(done, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if *useStdin {
		go func() {
			_, _ = io.Copy(ioutil.Discard, os.Stdin)
			done <- syscall.SIGTERM
		}()
	}
	<-done
	_ = srv.Close()
}
