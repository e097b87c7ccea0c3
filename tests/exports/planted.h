/* Declares the planted violation, so that -Wmissing-prototypes accepts it. */
#ifndef PLANTED_H
#define PLANTED_H

int planted_unprefixed_helper(void);

#endif
