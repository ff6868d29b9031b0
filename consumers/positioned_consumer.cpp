#include "consumers/positioned_consumer.h"

namespace ul::kafka {
namespace {

void rebalance_callback(rd_kafka_t* /*handle*/, rd_kafka_resp_err_t error,
                        rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    static_cast<PositionedConsumer*>(opaque)->on_rebalance(error, partitions);
}

PartitionList single(const TopicPartition& partition) {
    PartitionList list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), partition.topic.c_str(), partition.partition);
    return list;
}

}  // namespace

PositionedConsumer::PositionedConsumer(PositionedConsumerOptions options, ConsumerHooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)) {}

PositionedConsumer::~PositionedConsumer() {
    if (handle_) {
        rd_kafka_consumer_close(handle_.get());
    }
}

Result<std::unique_ptr<PositionedConsumer>, std::string> PositionedConsumer::create(
    PositionedConsumerOptions options, ConsumerHooks hooks) {
    std::unique_ptr<PositionedConsumer> consumer(
        new PositionedConsumer(std::move(options), std::move(hooks)));
    const auto& config = consumer->options_;
    auto made = make_config(with_settings(
        {
            {"bootstrap.servers", config.bootstrap},
            {"group.id", config.group},
            {"client.id", config.client_id},
            {"enable.auto.commit", "false"},  // positions live in RocksDB
            {"enable.auto.offset.store", "false"},
            {"auto.offset.reset", "error"},  // a lost range is seen, never skipped silently
            {"enable.partition.eof", config.partition_eof ? "true" : "false"},
            {"fetch.wait.max.ms", "10"},
            {"queued.max.messages.kbytes", "65536"},  // bounded prefetch memory
        },
        config.settings));
    if (!made) {
        return unexpected(made.error());
    }
    rd_kafka_conf_set_opaque(made->get(), consumer.get());
    rd_kafka_conf_set_rebalance_cb(made->get(), rebalance_callback);
    auto handle = make_handle(RD_KAFKA_CONSUMER, std::move(made).value());
    if (!handle) {
        return unexpected(handle.error());
    }
    consumer->handle_ = std::move(handle).value();
    rd_kafka_poll_set_consumer(consumer->handle_.get());
    return consumer;
}

void PositionedConsumer::assign(
    rd_kafka_topic_partition_list_t* partitions,
    const std::optional<std::pair<TopicPartition, std::int64_t>>& seek) {
    std::vector<TopicPartition> assigned;
    for (int index = 0; index < partitions->cnt; ++index) {
        assigned.push_back({partitions->elems[index].topic, partitions->elems[index].partition});
    }
    if (hooks_.before_assign) {
        hooks_.before_assign(assigned);
    }
    for (int index = 0; index < partitions->cnt; ++index) {
        auto& element = partitions->elems[index];
        const TopicPartition& partition = assigned[static_cast<std::size_t>(index)];
        element.offset = hooks_.start_offset(partition);
        if (seek && seek->first.topic == partition.topic &&
            seek->first.partition == partition.partition) {
            element.offset = seek->second;
        }
    }
    rd_kafka_assign(handle_.get(), partitions);
    hooks_.assigned(assigned);
}

void PositionedConsumer::on_rebalance(rd_kafka_resp_err_t error,
                                      rd_kafka_topic_partition_list_t* partitions) {
    hooks_.before_rebalance();
    if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign(partitions, std::nullopt);
    } else {
        rd_kafka_assign(handle_.get(), nullptr);
        hooks_.assigned({});
    }
}

Result<bool, std::string> PositionedConsumer::join() {
    if (!options_.assign_all) {
        PartitionList topics(
            rd_kafka_topic_partition_list_new(static_cast<int>(options_.topics.size())));
        for (const auto& topic : options_.topics) {
            rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
        }
        if (const auto error = rd_kafka_subscribe(handle_.get(), topics.get());
            error != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return unexpected(std::string("cannot subscribe: ") + rd_kafka_err2str(error));
        }
        return true;
    }
    auto metadata = wait_for_cluster(handle_.get(), options_.bootstrap, 30000);
    if (!metadata) {
        return unexpected(metadata.error());
    }
    PartitionList all(rd_kafka_topic_partition_list_new(16));
    for (const auto& topic : options_.topics) {
        const int count = partition_count(**metadata, topic);
        if (count == 0 && &topic == &options_.topics.front()) {
            return unexpected("topic " + topic + " does not exist");
        }
        for (int partition = 0; partition < count; ++partition) {
            rd_kafka_topic_partition_list_add(all.get(), topic.c_str(), partition);
        }
    }
    on_rebalance(RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, all.get());
    return true;
}

Result<bool, std::string> PositionedConsumer::reassign(
    std::optional<std::pair<TopicPartition, std::int64_t>> seek) {
    hooks_.before_rebalance();
    rd_kafka_topic_partition_list_t* current = nullptr;
    if (const auto error = rd_kafka_assignment(handle_.get(), &current);
        error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unexpected(std::string("cannot read the assignment: ") + rd_kafka_err2str(error));
    }
    PartitionList assignment(current);
    assign(assignment.get(), seek);
    return true;
}

Result<std::pair<std::int64_t, std::int64_t>, std::string> PositionedConsumer::log_bounds(
    const TopicPartition& partition) const {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const auto error = rd_kafka_query_watermark_offsets(handle_.get(), partition.topic.c_str(),
                                                        partition.partition, &low, &high, 10000);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unexpected("cannot query the log bounds of " + partition.topic + " partition " +
                          std::to_string(partition.partition) + ": " + rd_kafka_err2str(error));
    }
    return std::make_pair(low, high);
}

std::optional<std::pair<std::int64_t, std::int64_t>> PositionedConsumer::cached_log_bounds(
    const TopicPartition& partition) const {
    std::int64_t low = 0;
    std::int64_t high = 0;
    if (rd_kafka_get_watermark_offsets(handle_.get(), partition.topic.c_str(), partition.partition,
                                       &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
        return std::nullopt;
    }
    return std::make_pair(low, high);
}

void PositionedConsumer::pause(const TopicPartition& partition) {
    auto list = single(partition);
    rd_kafka_pause_partitions(handle_.get(), list.get());
}

void PositionedConsumer::resume(const TopicPartition& partition) {
    auto list = single(partition);
    rd_kafka_resume_partitions(handle_.get(), list.get());
}

bool PositionedConsumer::is_offset_error(const rd_kafka_message_t& message) {
    return message.err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
           message.err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE;
}

Message PositionedConsumer::poll(int timeout_ms) {
    return Message(rd_kafka_consumer_poll(handle_.get(), timeout_ms));
}

}  // namespace ul::kafka
