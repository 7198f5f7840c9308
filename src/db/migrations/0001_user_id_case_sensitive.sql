-- User ids are case-sensitive ("alice" and "Alice" are two users, as in Redis): a case-insensitive
-- collation would make the unique key drop one of two promised coupons.
ALTER TABLE `coupon_issues` MODIFY `user_id` varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;
