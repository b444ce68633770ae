/*
 * libwbxml reference measurement for BENCHMARKS.md: how many messages per second libwbxml
 * converts WBXML -> XML and XML -> WBXML, in-process, on the same input as benches/codec.rs.
 * Not part of the build; a reference only.
 *
 * Build and run (Debian: apt-get install -y libwbxml2-dev):
 *
 *   cc -O2 -Wall -Wno-deprecated-declarations -o /tmp/libwbxml_reference \
 *      protocol/benches/libwbxml_reference.c $(pkg-config --cflags --libs libwbxml2)
 *   /tmp/libwbxml_reference PKG1.wbxml protocol/tests/vectors/cm_omadm_pkg1.xml 100000
 *
 * An optional fourth argument, `wbxml2xml` or `xml2wbxml`, runs only that direction (e.g. to
 * count its allocations with `valgrind /tmp/libwbxml_reference ... 10 wbxml2xml`).
 *
 * PKG1.wbxml is package 1 as our encoder writes it (`xml2wbxml -v 1.2 -n` gives the same
 * 496 bytes, except that libwbxml writes the Data values as OPAQUE instead of inline
 * strings). Conversions use the settings of `wbxml2xml -m 0` (compact XML) and
 * `xml2wbxml -v 1.2 -n` (WBXML 1.2, no string table), the libdmclient defaults.
 *
 * Each iteration is one complete conversion, output freed, as a server would do per message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wbxml/wbxml.h>

static unsigned char *read_file(const char *path, WB_ULONG *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(1);
    }
    buf[n] = 0;
    fclose(f);
    *len = (WB_ULONG)n;
    return buf;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s INPUT.wbxml INPUT.xml ITERATIONS [wbxml2xml|xml2wbxml]\n", argv[0]);
        return 2;
    }
    const char *only = argc == 5 ? argv[4] : NULL;
    int run_to_xml = only == NULL || strcmp(only, "wbxml2xml") == 0;
    int run_to_wbxml = only == NULL || strcmp(only, "xml2wbxml") == 0;
    WB_ULONG wbxml_len, xml_len;
    unsigned char *wbxml = read_file(argv[1], &wbxml_len);
    unsigned char *xml = read_file(argv[2], &xml_len);
    long iterations = atol(argv[3]);

    WBXMLGenXMLParams to_xml = {
        .gen_type = WBXML_GEN_XML_COMPACT,
        .lang = WBXML_LANG_UNKNOWN,
        .charset = WBXML_CHARSET_UNKNOWN,
        .indent = 0,
        .keep_ignorable_ws = FALSE,
    };
    WBXMLGenWBXMLParams to_wbxml = {
        .wbxml_version = WBXML_VERSION_12,
        .keep_ignorable_ws = FALSE,
        .use_strtbl = FALSE,
        .produce_anonymous = FALSE,
    };

    WB_ULONG out_len = 0;
    unsigned char *out = NULL;
    double start = now();
    for (long i = 0; run_to_xml && i < iterations; i++) {
        WBXMLError rc = wbxml_conv_wbxml2xml_withlen(wbxml, wbxml_len, &out, &out_len, &to_xml);
        if (rc != WBXML_OK) {
            fprintf(stderr, "wbxml2xml: %s\n", wbxml_errors_string(rc));
            return 1;
        }
        free(out);
    }
    double secs = now() - start;
    if (run_to_xml)
        printf("wbxml2xml  %u -> %u bytes  %ld iterations  %.3f s  %.0f msg/s  %.2f us/msg  %.1f MB/s in\n",
           wbxml_len, out_len, iterations, secs, iterations / secs, secs * 1e6 / iterations,
           (double)wbxml_len * iterations / secs / 1e6);

    start = now();
    for (long i = 0; run_to_wbxml && i < iterations; i++) {
        WBXMLError rc = wbxml_conv_xml2wbxml_withlen(xml, xml_len, &out, &out_len, &to_wbxml);
        if (rc != WBXML_OK) {
            fprintf(stderr, "xml2wbxml: %s\n", wbxml_errors_string(rc));
            return 1;
        }
        free(out);
    }
    secs = now() - start;
    if (run_to_wbxml)
        printf("xml2wbxml  %u -> %u bytes  %ld iterations  %.3f s  %.0f msg/s  %.2f us/msg  %.1f MB/s in\n",
           xml_len, out_len, iterations, secs, iterations / secs, secs * 1e6 / iterations,
           (double)xml_len * iterations / secs / 1e6);

    free(wbxml);
    free(xml);
    return 0;
}
