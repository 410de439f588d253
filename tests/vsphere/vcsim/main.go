// vdisk-vcsim: the vSphere simulator the vdisk tests talk to.
//
// It starts govmomi's simulator (simulator.ESX(), or simulator.VPX() with
// -vpx) with TLS on 127.0.0.1 and serves it through a front handler in the
// same process, which can misbehave on request for the tests:
//
//	-norange        /folder answers every GET with 200 and the whole file
//	-drop N         /folder GETs close the connection after N body bytes
//	-dropat OFF     a /folder GET whose range holds file offset OFF closes
//	                the connection there (whichever of several parallel
//	                ranged GETs carries it)
//	-norangeafter N /folder honours Range for the first N GETs, then answers
//	                200 with the whole file (Range ignored mid-read)
//	-hostile FILE   the answer to any SOAP call named by -method is FILE
//	-method NAME    (with -hostile; default RetrievePropertiesEx)
//	-idle SECONDS   sessions expire after SECONDS idle (re-login tests)
//	-user U         the only user name accepted (password from $VCSIM_PASSWORD)
//	-calls FILE     append one line per request: the SOAP method, or GET PATH
//	-cbt FILE       answer QueryChangedDiskAreas (which the simulator lacks)
//	                from FILE, lines "VM-MOREF DEVICE-KEY OFFSET LENGTH", at
//	                most 2 areas a page
//	                (a 5th field CHANGEID: the area is reported only to a
//	                query since that changeId)
//	-changeid FILE  before each request, set the changeId of the disks
//	                that FILE names (lines "VM-MOREF DEVICE-KEY CHANGEID"):
//	                the simulator gives disks none
//	-snapdetails FILE answer RetrieveSnapshotDetails (which the simulator
//	                lacks) from FILE, lines "FCD-ID SNAPSHOT-ID [ds] path"
//	-failput SUFFIX /folder PUTs of a path ending in SUFFIX answer 500
//	-touchonput SUFFIX=NAME a /folder PUT of a path ending in SUFFIX first
//	                writes "foreign" into NAME (relative to the first
//	                datastore's folder): another client racing a restore
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
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// /folder GETs so far (-norangeafter).
var folderGets int64

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

// QueryChangedDiskAreas, which the simulator lacks, answered from a file
// of the areas the test wrote (lines "VM-MOREF DEVICE-KEY OFFSET LENGTH"),
// at most 2 areas a page.  (Wrapping the VM object, govmomi's way of adding
// a method, breaks its ContainerView in this version, so the front
// handler answers it.)
type qcdaEnvelope struct {
	Body struct {
		Q *struct {
			This        string `xml:"_this"`
			DeviceKey   int32  `xml:"deviceKey"`
			StartOffset int64  `xml:"startOffset"`
			ChangeId    string `xml:"changeId"`
		} `xml:"QueryChangedDiskAreas"`
	} `xml:"Body"`
}

const soapHead = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`
const soapTail = `</soapenv:Body></soapenv:Envelope>`

func qcdaFault(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `%s<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail><InvalidArgumentFault xmlns="urn:vim25" xsi:type="InvalidArgument"></InvalidArgumentFault></detail></soapenv:Fault>%s`,
		soapHead, msg, soapTail)
}

func answerQCDA(w http.ResponseWriter, body []byte, file string) bool {
	var env qcdaEnvelope
	if err := xml.Unmarshal(body, &env); err != nil || env.Body.Q == nil {
		return false
	}
	q := env.Body.Q
	capacity := int64(-1)
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		if vm.Self.Value != strings.TrimSpace(q.This) {
			continue
		}
		for _, d := range vm.Config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok && disk.Key == q.DeviceKey {
				capacity = disk.CapacityInBytes
				if capacity == 0 {
					capacity = disk.CapacityInKB * 1024
				}
			}
		}
	}
	if capacity < 0 || q.ChangeId == "" || q.StartOffset < 0 || q.StartOffset >= capacity {
		qcdaFault(w, "bad VM, device key, change id or offset")
		return true
	}
	data, err := ioutil.ReadFile(file)
	if err != nil {
		qcdaFault(w, "cannot read the areas file")
		return true
	}
	type area struct{ off, n int64 }
	var areas []area
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(strings.TrimSpace(line), " ", 5) // a changeId has spaces
		if (len(f) != 4 && len(f) != 5) || f[0] != strings.TrimSpace(q.This) || f[1] != strconv.Itoa(int(q.DeviceKey)) {
			continue
		}
		if len(f) == 5 && f[4] != q.ChangeId {
			continue
		}
		off, _ := strconv.ParseInt(f[2], 10, 64)
		n, _ := strconv.ParseInt(f[3], 10, 64)
		if off+n > q.StartOffset {
			areas = append(areas, area{off, n})
		}
	}
	sort.Slice(areas, func(i, j int) bool { return areas[i].off < areas[j].off })
	end := capacity
	var b strings.Builder
	for i, a := range areas {
		if i == 2 {
			end = a.off
			break
		}
		start := a.off
		if start < q.StartOffset {
			start = q.StartOffset
		}
		fmt.Fprintf(&b, "<changedArea><start>%d</start><length>%d</length></changedArea>",
			start, a.off+a.n-start)
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fmt.Fprintf(w, `%s<QueryChangedDiskAreasResponse xmlns="urn:vim25"><returnval><startOffset>%d</startOffset><length>%d</length>%s</returnval></QueryChangedDiskAreasResponse>%s`,
		soapHead, q.StartOffset, end-q.StartOffset, b.String(), soapTail)
	return true
}

// The changeId of the disks named in file (lines "VM-MOREF DEVICE-KEY
// CHANGEID"), set on their backings (under the VM's lock) before a request.
func setChangeIds(file string) {
	data, err := ioutil.ReadFile(file)
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, " ", 3) // a changeId has spaces
		if len(f) != 3 {
			continue
		}
		key, _ := strconv.Atoi(f[1])
		set := func(devs []types.BaseVirtualDevice) {
			for _, d := range devs {
				disk, ok := d.(*types.VirtualDisk)
				if !ok || disk.Key != int32(key) {
					continue
				}
				if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
					b.ChangeId = f[2]
				}
			}
		}
		for _, e := range simulator.Map.All("VirtualMachine") {
			vm := e.(*simulator.VirtualMachine)
			if vm.Self.Value != f[0] {
				continue
			}
			// (a snapshot taken later shares these devices: it freezes
			// the changeId of its time only as long as the test keeps it)
			simulator.Map.WithLock(vm, func() { set(vm.Config.Hardware.Device) })
		}
	}
}

// RetrieveSnapshotDetails, which the simulator lacks: the path of an FCD
// snapshot's backing file from file (lines "FCD-ID SNAPSHOT-ID [ds] path",
// placed by the test).
type rsdEnvelope struct {
	Body struct {
		Q *struct {
			Id         string `xml:"id>id"`
			SnapshotId string `xml:"snapshotId>id"`
		} `xml:"RetrieveSnapshotDetails"`
	} `xml:"Body"`
}

func answerRSD(w http.ResponseWriter, body []byte, file string) bool {
	var env rsdEnvelope
	if err := xml.Unmarshal(body, &env); err != nil || env.Body.Q == nil {
		return false
	}
	data, _ := ioutil.ReadFile(file)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) == 3 && f[0] == strings.TrimSpace(env.Body.Q.Id) &&
			f[1] == strings.TrimSpace(env.Body.Q.SnapshotId) {
			var b bytes.Buffer
			_ = xml.EscapeText(&b, []byte(f[2]))
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			fmt.Fprintf(w, `%s<RetrieveSnapshotDetailsResponse xmlns="urn:vim25"><returnval><path>%s</path></returnval></RetrieveSnapshotDetailsResponse>%s`,
				soapHead, b.String(), soapTail)
			return true
		}
	}
	qcdaFault(w, "no such snapshot")
	return true
}

func main() {
	vpx := flag.Bool("vpx", false, "simulate vCenter (VPX) rather than ESX")
	vms := flag.Int("vm", 2, "virtual machines per host")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	noRange := flag.Bool("norange", false, "/folder ignores Range")
	drop := flag.Int64("drop", 0, "/folder GETs drop the connection after N bytes")
	dropAt := flag.Int64("dropat", -1, "/folder GETs drop the connection at file offset OFF")
	noRangeAfter := flag.Int64("norangeafter", -1, "/folder ignores Range after N GETs")
	hostile := flag.String("hostile", "", "file whose content answers -method")
	hostileMethod := flag.String("method", "RetrievePropertiesEx", "SOAP method answered by -hostile")
	idle := flag.Int("idle", 0, "session idle timeout in seconds (0: never)")
	user := flag.String("user", "", "the only user accepted (password from $VCSIM_PASSWORD)")
	info := flag.String("info", "", "write KEY=VALUE lines to this file")
	certOut := flag.String("cert", "", "write the server certificate (PEM) here")
	useStdin := flag.Bool("stdin", false, "exit when stdin closes")
	calls := flag.String("calls", "", "log SOAP methods and /folder GETs here")
	cbt := flag.String("cbt", "", "answer QueryChangedDiskAreas from this file")
	changeIds := flag.String("changeid", "", "set disks' changeId from this file")
	snapDetails := flag.String("snapdetails", "", "answer RetrieveSnapshotDetails from this file")
	failPut := flag.String("failput", "", "/folder PUTs of paths ending in this answer 500")
	touchOnPut := flag.String("touchonput", "", "SUFFIX=NAME: a /folder PUT ending in SUFFIX first writes datastore file NAME")
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
	touchDir := ""
	for _, e := range simulator.Map.All("Datastore") {
		if touchDir == "" {
			touchDir = e.(*simulator.Datastore).Info.GetDatastoreInfo().Url
		}
	}
	touchSuffix, touchName := "", ""
	if i := strings.IndexByte(*touchOnPut, '='); i > 0 {
		touchSuffix, touchName = (*touchOnPut)[:i], (*touchOnPut)[i+1:]
	}

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
			if *noRangeAfter >= 0 && atomic.AddInt64(&folderGets, 1) > *noRangeAfter {
				r.Header.Del("Range")
			}
			if *dropAt >= 0 {
				var a, b int64 = 0, -1
				rg := strings.TrimPrefix(r.Header.Get("Range"), "bytes=")
				if i := strings.IndexByte(rg, '-'); i > 0 {
					a, _ = strconv.ParseInt(rg[:i], 10, 64)
					if rg[i+1:] != "" {
						b, _ = strconv.ParseInt(rg[i+1:], 10, 64)
					}
				}
				if a <= *dropAt && (b < 0 || b >= *dropAt) {
					w = &dropWriter{ResponseWriter: w, left: *dropAt - a}
				}
			}
		}
		if touchSuffix != "" && r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/folder/") &&
			strings.HasSuffix(r.URL.Path, touchSuffix) {
			t := filepath.Join(touchDir, touchName)
			_ = os.MkdirAll(filepath.Dir(t), 0o755)
			_ = ioutil.WriteFile(t, []byte("foreign\n"), 0o644)
		}
		if *failPut != "" && r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/folder/") &&
			strings.HasSuffix(r.URL.Path, *failPut) {
			_, _ = io.Copy(ioutil.Discard, r.Body)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if *changeIds != "" {
			setChangeIds(*changeIds)
		}
		if *snapDetails != "" && r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/sdk") {
			body, _ := ioutil.ReadAll(io.LimitReader(r.Body, 1<<24))
			if bytes.Contains(body, []byte("RetrieveSnapshotDetails")) && answerRSD(w, body, *snapDetails) {
				return
			}
			r.Body = ioutil.NopCloser(bytes.NewReader(body))
		}
		if *cbt != "" && r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/sdk") {
			body, _ := ioutil.ReadAll(io.LimitReader(r.Body, 1<<24))
			if bytes.Contains(body, []byte("QueryChangedDiskAreas")) && answerQCDA(w, body, *cbt) {
				return
			}
			r.Body = ioutil.NopCloser(bytes.NewReader(body))
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
