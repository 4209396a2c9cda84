/* The one C source of every zentoo test package (tests/stage3/distfiles): a program that prints
 * the settings it was built with and calls into every library it links, and/or a shared library
 * that answers for itself.
 * The program prints its summary line, then one line per library it links. zt-config.h is written by zentoo-test.eclass. */
#include <stdio.h>
#include "zt-config.h"

#define ZT_STR2(x) #x
#define ZT_STR(x) ZT_STR2(x)
#define ZT_CAT2(a, b) a##b
#define ZT_CAT(a, b) ZT_CAT2(a, b)

#ifdef ZT_BUILD_LIB
const char *ZT_CAT(zt_info_, ZT_LIB_NAME)(void)
{
	return "lib" ZT_STR(ZT_LIB_NAME) " from " ZT_SUMMARY;
}
#endif

#ifdef ZT_BUILD_PROG
int main(void)
{
	puts(ZT_SUMMARY);
	ZT_CALL_LINKED();
	return 0;
}
#endif
