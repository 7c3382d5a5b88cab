#include "health/tracker.h"

namespace steerdns::health {

TrackerParams TrackerParams::of(const CheckSpec& spec) {
  TrackerParams p;
  p.failure_threshold = spec.failure_threshold;
  p.success_threshold = spec.success_threshold;
  p.interval_ms = spec.interval_ms;
  p.recheck_ms = spec.recheck_ms;
  p.inverted = spec.inverted;
  return p;
}

Tracker::Step Tracker::observe(bool raw_ok) {
  Step st;
  st.from = status_;
  st.counted_ok = raw_ok != p_.inverted;
  if (st.counted_ok) {
    ++ok_;
    fail_ = 0;
  } else {
    ++fail_;
    ok_ = 0;
  }
  if (status_ == Status::kUnknown) {
    // The first round decides: there is no previous status to protect from a blip.
    status_ = st.counted_ok ? Status::kHealthy : Status::kUnhealthy;
  } else if (status_ == Status::kHealthy && fail_ >= p_.failure_threshold) {
    status_ = Status::kUnhealthy;
  } else if (status_ == Status::kUnhealthy && ok_ >= p_.success_threshold) {
    status_ = Status::kHealthy;
  }
  st.to = status_;
  st.changed = st.from != st.to;
  st.next_delay_ms = next_delay_ms();
  return st;
}

void Tracker::restore(Status s, int consecutive_ok, int consecutive_fail) {
  status_ = s;
  ok_ = consecutive_ok < 0 ? 0 : consecutive_ok;
  fail_ = consecutive_fail < 0 ? 0 : consecutive_fail;
  if (ok_ > 0 && fail_ > 0) {
    fail_ = 0;  // only one streak can be running
  }
}

Status aggregate(Aggregation rule, int healthy, int reporting) {
  if (reporting <= 0) {
    return Status::kUnknown;
  }
  bool up = false;
  switch (rule) {
    case Aggregation::kRoute53:
      up = healthy * 100 > reporting * 18;  // more than 18 %
      break;
    case Aggregation::kMajority:
      up = healthy * 2 > reporting;
      break;
    case Aggregation::kAll:
      up = healthy == reporting;
      break;
  }
  return up ? Status::kHealthy : Status::kUnhealthy;
}

const char* aggregation_name(Aggregation a) {
  switch (a) {
    case Aggregation::kRoute53:
      return "route53";
    case Aggregation::kMajority:
      return "majority";
    case Aggregation::kAll:
      return "all";
  }
  return "?";
}

}  // namespace steerdns::health
