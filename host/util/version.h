/* What --version prints: the product version, when it was built, and the
 * toolchain and library versions it runs with. */
#ifndef ES_VERSION_H
#define ES_VERSION_H

#include <stdio.h>

void version_print(FILE *out);

#endif
