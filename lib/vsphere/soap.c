/* SOAP for a vSphere session (urn:vim25): request envelopes built with
 * libxml2, answers parsed bounded in size (VD_VS_MAX_SOAP), without
 * network access, without entity substitution and without any DTD (a
 * DOCTYPE is refused before its declarations are read), and walked with
 * bounded depth; faults named by their type. */
#include "vsphere/vsphere-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsphere/xml-dl.h"

#define SOAP_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define VIM_NS "urn:vim25"

/* ---- XML requests ------------------------------------------------------ */

xmlDocPtr
vd__vs_req (const char *method, const char *this_type,
            const char *this_value, xmlNodePtr *method_node)
{
  xmlDocPtr doc = xmlNewDoc (BAD_CAST "1.0");
  xmlNodePtr env, body, m;
  xmlNsPtr soapns;

  if (!doc)
    return NULL;
  env = xmlNewNode (NULL, BAD_CAST "Envelope");
  soapns = xmlNewNs (env, BAD_CAST SOAP_NS, BAD_CAST "soapenv");
  xmlSetNs (env, soapns);
  xmlNewNs (env, BAD_CAST XSI_NS, BAD_CAST "xsi");
  xmlNewNs (env, BAD_CAST "http://www.w3.org/2001/XMLSchema",
            BAD_CAST "xsd");
  xmlDocSetRootElement (doc, env);
  body = xmlNewChild (env, soapns, BAD_CAST "Body", NULL);
  m = xmlNewChild (body, NULL, BAD_CAST method, NULL);
  xmlSetNs (m, xmlNewNs (m, BAD_CAST VIM_NS, NULL));
  vd__vs_add_ref (m, "_this", this_type, this_value);
  *method_node = m;
  return doc;
}

xmlNodePtr
vd__vs_add (xmlNodePtr parent, const char *name, const char *text)
{
  return xmlNewTextChild (parent, NULL, BAD_CAST name, BAD_CAST text);
}

xmlNodePtr
vd__vs_add_ref (xmlNodePtr parent, const char *name, const char *type,
                const char *value)
{
  xmlNodePtr n = vd__vs_add (parent, name, value);
  if (n)
    xmlNewProp (n, BAD_CAST "type", BAD_CAST type);
  return n;
}

void
vd__vs_xsi_type (xmlNodePtr n, const char *type)
{
  xmlNsPtr xsi = xmlSearchNsByHref (n->doc, n, BAD_CAST XSI_NS);
  xmlNewNsProp (n, xsi, BAD_CAST "type", BAD_CAST type);
}

/* ---- XML answers ------------------------------------------------------- */

static int
is_elem (xmlNodePtr n, const char *name)
{
  return n && n->type == XML_ELEMENT_NODE
         && (!name || strcmp ((const char *) n->name, name) == 0);
}

xmlNodePtr
vd__vs_child (xmlNodePtr n, const char *name)
{
  if (!n)
    return NULL;
  for (xmlNodePtr c = n->children; c; c = c->next)
    if (is_elem (c, name))
      return c;
  return NULL;
}

xmlNodePtr
vd__vs_next (xmlNodePtr n, const char *name)
{
  for (xmlNodePtr c = n ? n->next : NULL; c; c = c->next)
    if (is_elem (c, name))
      return c;
  return NULL;
}

char *
vd__vs_text (xmlNodePtr n, const char *name)
{
  xmlNodePtr c = name ? vd__vs_child (n, name) : n;
  xmlChar *t;
  char *r;
  if (!c)
    return NULL;
  /* only direct text: an element where text was expected is ignored */
  for (xmlNodePtr k = c->children; k; k = k->next)
    if (k->type != XML_TEXT_NODE)
      return NULL;
  t = xmlNodeGetContent (c);
  if (!t)
    return NULL;
  if (strlen ((const char *) t) > 65536) {
    xmlFree (t);
    return NULL;
  }
  r = strdup ((const char *) t);
  xmlFree (t);
  return r;
}

char *
vd__vs_attr (xmlNodePtr n, const char *name)
{
  xmlChar *t = n ? xmlGetProp (n, BAD_CAST name) : NULL;
  char *r = t ? strdup ((const char *) t) : NULL;
  xmlFree (t);
  return r;
}

char *
vd__vs_type (xmlNodePtr n)
{
  xmlChar *t = n ? xmlGetNsProp (n, BAD_CAST "type", BAD_CAST XSI_NS) : NULL;
  const char *c;
  char *r;
  if (!t)
    return NULL;
  c = strchr ((const char *) t, ':');
  r = strdup (c ? c + 1 : (const char *) t);
  xmlFree (t);
  return r;
}

int
vd__vs_u64 (xmlNodePtr n, const char *name, uint64_t max, uint64_t *v,
            const char *what)
{
  char *t = vd__vs_text (n, name), *end;
  unsigned long long x;
  char qb[96];

  if (!t)
    return vd__vs_child (n, name)
           ? vd__error (VD_ECORRUPT, 0, "server answer: %s is not a number",
                       what)
           : 1;
  errno = 0;
  x = strtoull (t, &end, 10);
  if (!isdigit ((unsigned char) t[0]) || *end || errno || x > max) {
    vd__error (VD_ECORRUPT, 0, "server answer: %s \"%s\" is not a number "
              "from 0 to %llu", what, vd__quote (qb, sizeof qb, t, strlen (t)),
              (unsigned long long) max);
    free (t);
    return VD_ECORRUPT;
  }
  free (t);
  *v = x;
  return 0;
}

/* A DOCTYPE (and so any entity declaration) is refused before its
 * content is read: SOAP never has one. */
static void
refuse_dtd (void *ctx, const xmlChar *name, const xmlChar *ext,
            const xmlChar *sys)
{
  xmlParserCtxtPtr c = ctx;
  (void) name; (void) ext; (void) sys;
  c->_private = (void *) 1;
  xmlStopParser (c);
}

static int
depth_ok (xmlNodePtr n, int depth)
{
  if (depth > VD_VS_MAX_DEPTH)
    return 0;
  for (xmlNodePtr c = n->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && !depth_ok (c, depth + 1))
      return 0;
    else if (c->type == XML_ENTITY_REF_NODE || c->type == XML_DTD_NODE)
      return 0;
  return 1;
}

static int
parse_answer (struct vd_vsphere *s, const char *buf, size_t len,
              const char *what, xmlDocPtr *out)
{
  xmlParserCtxtPtr c;
  xmlDocPtr doc = NULL;
  int dtd;

  *out = NULL;
  if (len > INT32_MAX)
    return vd__error (VD_ECORRUPT, 0, "%s: %s: answer too large", s->host,
                     what);
  c = xmlCreateMemoryParserCtxt (buf, (int) len);
  if (!c)
    return vd__error (VD_ENOMEM, 0, "%s: %s: xml parser", s->host, what);
  /* no network, no entity substitution, no DTD loading, no "huge" */
  xmlCtxtUseOptions (c, XML_PARSE_NONET | XML_PARSE_NOERROR
                        | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
  c->sax->internalSubset = refuse_dtd;
  c->sax->externalSubset = NULL;
  c->sax->entityDecl = NULL;
  c->sax->getEntity = NULL;
  c->_private = NULL;
  xmlParseDocument (c);
  dtd = c->_private != NULL;
  doc = c->myDoc;
  c->myDoc = NULL;
  if (dtd || !c->wellFormed || !doc) {
    xmlFreeParserCtxt (c);
    xmlFreeDoc (doc);
    if (dtd)
      return vd__error (VD_ECORRUPT, 0, "%s: %s: the answer has a DOCTYPE "
                       "(SOAP never does): refused", s->host, what);
    return vd__error (VD_ECORRUPT, 0, "%s: %s: the answer is not "
                     "well-formed XML (or nests too deeply)", s->host, what);
  }
  xmlFreeParserCtxt (c);
  if (!xmlDocGetRootElement (doc)
      || !depth_ok (xmlDocGetRootElement (doc), 0)) {
    xmlFreeDoc (doc);
    return vd__error (VD_ECORRUPT, 0, "%s: %s: the answer nests deeper than "
                     "%d elements or holds entity references: refused",
                     s->host, what, VD_VS_MAX_DEPTH);
  }
  *out = doc;
  return 0;
}

/* ---- SOAP calls -------------------------------------------------------- */

/* Send one request; *doc is the parsed answer (fault or not); *status
 * the HTTP status. */
static int
soap_post (struct vd_vsphere *s, const char *method, xmlDocPtr req,
           xmlDocPtr *doc, long *status)
{
  struct vd_vs_buf b = { .max = VD_VS_MAX_SOAP };
  struct curl_slist *hdr = NULL;
  xmlChar *text = NULL;
  int tlen = 0, r;
  char url[600];
  CURLcode c;

  *doc = NULL;
  xmlDocDumpMemoryEnc (req, &text, &tlen, "UTF-8");
  if (!text)
    return vd__error (VD_ENOMEM, 0, "%s: %s: request", s->host, method);
  snprintf (url, sizeof url, "%s/sdk", s->base);
  hdr = curl_slist_append (hdr, "Content-Type: text/xml; charset=utf-8");
  hdr = curl_slist_append (hdr, "SOAPAction: \"urn:vim25/6.7\"");
  hdr = curl_slist_append (hdr, "Expect:");
  curl_easy_setopt (s->soap, CURLOPT_URL, url);
  curl_easy_setopt (s->soap, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt (s->soap, CURLOPT_POSTFIELDS, (char *) text);
  curl_easy_setopt (s->soap, CURLOPT_POSTFIELDSIZE, (long) tlen);
  curl_easy_setopt (s->soap, CURLOPT_WRITEFUNCTION, vd__vs_buf_write);
  curl_easy_setopt (s->soap, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt (s->soap, CURLOPT_TIMEOUT, 600L);
  c = curl_easy_perform (s->soap);
  curl_easy_setopt (s->soap, CURLOPT_POSTFIELDS, NULL);
  curl_easy_setopt (s->soap, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all (hdr);
  explicit_bzero (text, (size_t) tlen);   /* may hold the password */
  xmlFree (text);
  if (c != CURLE_OK) {
    free (b.p);
    return vd__vs_curl_fail (s, c, method);
  }
  curl_easy_getinfo (s->soap, CURLINFO_RESPONSE_CODE, status);
  if (*status != 200 && *status != 500) {
    free (b.p);
    return vd__error (VD_EIO, *status == 401 || *status == 403 ? EACCES : EIO,
                     "%s: %s: the server answered HTTP %ld", s->host,
                     method, *status);
  }
  r = parse_answer (s, b.p ? b.p : "", b.len, method, doc);
  free (b.p);
  return r;
}

/* Find Body's first element.  A Fault: *fault_type gets the detail's
 * type (NotAuthenticated, InvalidLogin, ...), the return is an error. */
static int
answer_body (struct vd_vsphere *s, const char *method, xmlDocPtr doc,
             xmlNodePtr *ret, char **fault_type)
{
  xmlNodePtr env = xmlDocGetRootElement (doc);
  xmlNodePtr body = vd__vs_child (env, "Body");
  xmlNodePtr first = vd__vs_child (body, NULL);
  char qb[160], qt[96];

  *ret = NULL;
  if (!env || strcmp ((const char *) env->name, "Envelope") != 0 || !first)
    return vd__error (VD_ECORRUPT, 0, "%s: %s: the answer is not a SOAP "
                     "envelope", s->host, method);
  if (strcmp ((const char *) first->name, "Fault") == 0) {
    char *fs = vd__vs_text (first, "faultstring");
    xmlNodePtr detail = vd__vs_child (first, "detail");
    xmlNodePtr d1 = vd__vs_child (detail, NULL);
    char *type = vd__vs_type (d1);
    if (!type && d1) {
      /* <InvalidLoginFault> without xsi:type */
      const char *nm = (const char *) d1->name;
      size_t n = strlen (nm);
      type = strdup (nm);
      if (type && n > 5 && strcmp (type + n - 5, "Fault") == 0)
        type[n - 5] = '\0';
    }
    if (fault_type)
      *fault_type = type ? strdup (type) : NULL;
    vd__error (VD_EIO,
              type && (strcmp (type, "InvalidLogin") == 0
                       || strcmp (type, "NotAuthenticated") == 0
                       || strcmp (type, "NoPermission") == 0)
                ? EACCES : EIO,
              "%s: %s failed: %s%s%s", s->host, method,
              fs && *fs ? vd__quote (qb, sizeof qb, fs, strlen (fs))
                        : "SOAP fault",
              type ? " " : "",
              type ? vd__quote (qt, sizeof qt, type, strlen (type)) : "");
    free (fs);
    free (type);
    return VD_EIO;
  }
  {
    size_t n = strlen (method);
    const char *nm = (const char *) first->name;
    if (strncmp (nm, method, n) != 0 || strcmp (nm + n, "Response") != 0)
      return vd__error (VD_ECORRUPT, 0, "%s: %s: unexpected answer <%s>",
                       s->host, method,
                       vd__quote (qb, sizeof qb, nm, strlen (nm)));
  }
  *ret = first;
  return 0;
}

static const char *
method_name (xmlDocPtr req)
{
  xmlNodePtr env = xmlDocGetRootElement (req);
  xmlNodePtr m = vd__vs_child (vd__vs_child (env, "Body"), NULL);
  return m ? (const char *) m->name : "?";
}

int
vd__vs_call_locked (struct vd_vsphere *s, xmlDocPtr req, xmlDocPtr *doc,
             xmlNodePtr *ret, char **fault_type)
{
  const char *method = method_name (req);
  long status = 0;
  int r = soap_post (s, method, req, doc, &status);
  if (r < 0)
    return r;
  r = answer_body (s, method, *doc, ret, fault_type);
  if (r < 0) {
    xmlFreeDoc (*doc);
    *doc = NULL;
  }
  return r;
}

#endif /* VD_HAVE_VSPHERE */
