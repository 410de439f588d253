/* libxml2, loaded on first use (lib/base/dl.c) by vd_vsphere_connect,
 * before any SOAP document is made: every libxml2 function lib/vsphere
 * calls goes through vd__xml_fn (xmlFree, a variable, too).  Include this
 * instead of libxml2's headers.  A function missing from VD__XML_FNS
 * fails the build (libvdisk.so links without -lxml2). */
#ifndef VD_VSPHERE_XML_DL_H
#define VD_VSPHERE_XML_DL_H


#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>

#define VD__XML_FNS(X) \
  X (xmlCreateMemoryParserCtxt) \
  X (xmlCtxtUseOptions) \
  X (xmlDocDumpMemoryEnc) \
  X (xmlDocGetRootElement) \
  X (xmlDocSetRootElement) \
  X (xmlFreeDoc) \
  X (xmlFreeParserCtxt) \
  X (xmlGetNsProp) \
  X (xmlGetProp) \
  X (xmlInitParser) \
  X (xmlNewChild) \
  X (xmlNewDoc) \
  X (xmlNewNode) \
  X (xmlNewNs) \
  X (xmlNewNsProp) \
  X (xmlNewProp) \
  X (xmlNewTextChild) \
  X (xmlNodeGetContent) \
  X (xmlNodeSetContent) \
  X (xmlParseDocument) \
  X (xmlSearchNsByHref) \
  X (xmlSetNs) \
  X (xmlStopParser)

#define VD__XML_VARS(X) \
  X (xmlFree)

struct vd__xml_fns {
#define VD__XML_MEMBER(f) __typeof__ (f) *f;
  VD__XML_FNS (VD__XML_MEMBER)
  VD__XML_VARS (VD__XML_MEMBER)
#undef VD__XML_MEMBER
};
extern struct vd__xml_fns vd__xml_fn;

/* Load libxml2.so.2 once (what: the URI or feature, for the message); 0 or
 * VD_ENOTSUP. */
int vd__xml_load (const char *what);

#undef xmlCreateMemoryParserCtxt
#define xmlCreateMemoryParserCtxt (vd__xml_fn.xmlCreateMemoryParserCtxt)
#undef xmlCtxtUseOptions
#define xmlCtxtUseOptions (vd__xml_fn.xmlCtxtUseOptions)
#undef xmlDocDumpMemoryEnc
#define xmlDocDumpMemoryEnc (vd__xml_fn.xmlDocDumpMemoryEnc)
#undef xmlDocGetRootElement
#define xmlDocGetRootElement (vd__xml_fn.xmlDocGetRootElement)
#undef xmlDocSetRootElement
#define xmlDocSetRootElement (vd__xml_fn.xmlDocSetRootElement)
#undef xmlFreeDoc
#define xmlFreeDoc (vd__xml_fn.xmlFreeDoc)
#undef xmlFreeParserCtxt
#define xmlFreeParserCtxt (vd__xml_fn.xmlFreeParserCtxt)
#undef xmlGetNsProp
#define xmlGetNsProp (vd__xml_fn.xmlGetNsProp)
#undef xmlGetProp
#define xmlGetProp (vd__xml_fn.xmlGetProp)
#undef xmlInitParser
#define xmlInitParser (vd__xml_fn.xmlInitParser)
#undef xmlNewChild
#define xmlNewChild (vd__xml_fn.xmlNewChild)
#undef xmlNewDoc
#define xmlNewDoc (vd__xml_fn.xmlNewDoc)
#undef xmlNewNode
#define xmlNewNode (vd__xml_fn.xmlNewNode)
#undef xmlNewNs
#define xmlNewNs (vd__xml_fn.xmlNewNs)
#undef xmlNewNsProp
#define xmlNewNsProp (vd__xml_fn.xmlNewNsProp)
#undef xmlNewProp
#define xmlNewProp (vd__xml_fn.xmlNewProp)
#undef xmlNewTextChild
#define xmlNewTextChild (vd__xml_fn.xmlNewTextChild)
#undef xmlNodeGetContent
#define xmlNodeGetContent (vd__xml_fn.xmlNodeGetContent)
#undef xmlNodeSetContent
#define xmlNodeSetContent (vd__xml_fn.xmlNodeSetContent)
#undef xmlParseDocument
#define xmlParseDocument (vd__xml_fn.xmlParseDocument)
#undef xmlSearchNsByHref
#define xmlSearchNsByHref (vd__xml_fn.xmlSearchNsByHref)
#undef xmlSetNs
#define xmlSetNs (vd__xml_fn.xmlSetNs)
#undef xmlStopParser
#define xmlStopParser (vd__xml_fn.xmlStopParser)
#undef xmlFree
#define xmlFree (*vd__xml_fn.xmlFree)

#endif
