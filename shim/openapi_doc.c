/*
 * openapi_doc.c
 *		docs/openapi.json, built into the binary for GET /openapi.json.
 *
 * The Makefile passes the document's path as OPENAPI_FILE; the assembler
 * includes its bytes, so the binary serves exactly the file in the
 * repository it was built from (PGBANK_OPENAPI can point elsewhere).
 */
#ifndef OPENAPI_FILE
#error "OPENAPI_FILE must name docs/openapi.json"
#endif

__asm__(".section .rodata\n"
		".global pgbank_openapi_start\n"
		"pgbank_openapi_start:\n"
		".incbin \"" OPENAPI_FILE "\"\n"
		"pgbank_openapi_end:\n"
		".byte 0\n"
		".balign 8\n"
		".global pgbank_openapi_size\n"
		"pgbank_openapi_size:\n"
		".quad pgbank_openapi_end - pgbank_openapi_start\n"
		".previous\n");
