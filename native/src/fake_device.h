/* An in-memory RDMA device for tests on machines without RDMA hardware: RC QPs connected to each other in one
 * process execute READ/WRITE with memcpy and enforce lkeys, rkeys, access rights and registered bounds the way
 * a NIC does (error completion, QP to the error state, later work requests flushed). */
#ifndef KVT_FAKE_DEVICE_H
#define KVT_FAKE_DEVICE_H

#include <stdint.h>
#include "verbs_ops.h"

const kvt_verbs_ops *kvt_fake_ops(void);
/* Clears every fake object and counter (tests call it between cases). */
void kvt_fake_reset(void);
/* How many times post_send was called (one per doorbell) and how many work requests it received. */
uint64_t kvt_fake_doorbells(void);
uint64_t kvt_fake_work_requests(void);
/* Makes the next post_send refuse the work request at index (ENOMEM, as a full send queue); -1 disables. */
void kvt_fake_refuse_next_post_at(int32_t index);

#endif
