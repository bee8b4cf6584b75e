/* Prints the config's key table (es_config_dump_keys()), one key a line:
 * path, type and range, default, what a reload does, help; tab-separated.
 * tests/docs/config_keys.sh checks the key reference in the docs against it. */
#include "config.h"

#include <stdio.h>

#include "model/es_config.h"

int main(void)
{
	es_config_dump_keys(stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}
