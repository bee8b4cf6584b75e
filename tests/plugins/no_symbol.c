/* Broken test plugin: a shared object that exports no descriptor. */
#include <event-system/plugin.h>

ES_EXPORT int not_a_plugin(void);
int not_a_plugin(void)
{
	return 42;
}
