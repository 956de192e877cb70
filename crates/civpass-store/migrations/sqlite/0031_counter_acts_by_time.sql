-- /metrics counts the last day's counter acts at each scrape: by time, not by officer.
CREATE INDEX counter_acts_at ON counter_acts (at);
